"""Score a pixel JSCC transmission exactly like the other systems: decoded image → the same extractor → the
same knowledge base, plus PSNR (MS-SSIM when available), the channel uses actually sent, and the
fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kbsc.jscc.metrics import ms_ssim, psnr, to_uint8
from kbsc.systems.base import Outcomes

__all__ = ["Transmission", "outcomes_from_images", "transmit_images"]

# encode(images uint8 [B,H,W,3], snr_db, k) -> complex [B,k]; decode(y, noise_var, snr_db, k) -> uint8 images
Encoder = Callable[[np.ndarray, float, int], torch.Tensor]
Decoder = Callable[[torch.Tensor, torch.Tensor, float, int], np.ndarray]


@dataclass
class Transmission:
    """decoded uint8 ``[N, H, W, 3]``; channel_uses int64 ``[N]`` (symbols handed to the bridge per image)."""

    decoded: np.ndarray
    channel_uses: np.ndarray
    fingerprint: str


class _Counting:
    """Wraps a bridge and counts the complex symbols handed to it per image."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.sent: list[np.ndarray] = []

    def transmit(self, x: torch.Tensor, image_ids: Any, snr_db: Any) -> Any:
        self.sent.append(np.full(x.shape[0], x.shape[1], dtype=np.int64))
        return self.bridge.transmit(x, image_ids, snr_db)


def transmit_images(
    encode: Encoder,
    decode: Decoder,
    bridge: Any,
    images: np.ndarray,
    image_ids: np.ndarray,
    snr_db: float,
    k: int,
    batch: int = 250,
) -> Transmission:
    """Send uint8 ``images [N, H, W, 3]`` (ids ``[N]``) through ``bridge`` with ``k`` symbols each."""
    counter = _Counting(bridge)
    decoded = []
    ids = np.asarray(image_ids, dtype=np.int64)
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            x = encode(images[s : s + batch], float(snr_db), int(k))
            out = counter.transmit(x, torch.from_numpy(ids[s : s + batch]), float(snr_db))
            decoded.append(decode(out.y, out.noise_var, float(snr_db), int(k)))
    dec = np.concatenate(decoded) if decoded else np.zeros_like(images)
    return Transmission(
        dec,
        np.concatenate(counter.sent) if counter.sent else np.zeros(0, np.int64),
        str(bridge.fingerprint(ids, int(k))),
    )


def outcomes_from_images(
    decoded: np.ndarray, ctx: Any, fingerprint: str, channel_uses: np.ndarray | None = None, top: int = 5
) -> Outcomes:
    """Outcomes of decoded uint8 images ``[N, H, W, 3]`` (``ctx``'s order): extractor → KB top-``top``."""
    decoded = np.asarray(decoded)
    if decoded.dtype != np.uint8:
        decoded = to_uint8(decoded)
    feats = ctx.extractor.extract(decoded, show_progress=False)
    retrieved = np.asarray(ctx.kb.retrieve_labels(np.asarray(feats, dtype=np.float32), k=top), dtype=np.int64)
    extras: dict[str, np.ndarray] = {
        "psnr": psnr(ctx.images, decoded),
        "ms_ssim": ms_ssim(ctx.images, decoded),
    }
    if channel_uses is not None:
        extras["channel_uses"] = np.asarray(channel_uses, dtype=np.int64)
    return Outcomes(
        image_ids=np.asarray(ctx.image_ids, dtype=np.int64),
        labels=np.asarray(ctx.labels, dtype=np.int64),
        retrieved=retrieved,
        fingerprint=fingerprint,
        extras=extras,
    )
