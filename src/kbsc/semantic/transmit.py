"""The send path of a semantic codec: features → encoder → bridge → decoder, and top-1 retrieval.

Training (:mod:`kbsc.semantic.train`), validation and evaluation (:mod:`kbsc.semantic.evaluate`) all send
through :func:`transmit`, so what the codec is trained on is exactly what it is scored on.
"""

from __future__ import annotations

from typing import Any

import torch

from kbsc.semantic.codec import SemanticCodec
from kbsc.util.device import module_device

__all__ = ["top1_inner", "transmit"]


def transmit(
    codec: SemanticCodec, bridge: Any, f: torch.Tensor, ids: torch.Tensor, snr_db: float
) -> torch.Tensor:
    """Encoder → bridge → decoder for one batch at one SNR: ``[B, 512]`` → ``[B, 512]``.

    Runs on the codec's device (``f`` is moved there; the result stays there); the realization ids stay on
    the host, where the bridge draws the channel."""
    device = module_device(codec, default=f.device)
    f = f.to(device)
    snr = torch.full((f.shape[0],), float(snr_db), device=device)
    x = codec.encode(f, snr)
    out = bridge.transmit(x, ids, float(snr_db))
    return codec.decode(out.y, snr, out.noise_var)


def top1_inner(queries: torch.Tensor, kb: torch.Tensor, kb_labels: torch.Tensor) -> torch.Tensor:
    """Top-1 label ``[Q]`` of ``queries`` ``[Q, D]`` by inner product (= L2 ranking for a unit-norm KB)."""
    return kb_labels[(queries @ kb.T).argmax(dim=1)]
