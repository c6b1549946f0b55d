"""Batched, progress-reporting feature extraction shared by all extractors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from kbsc.errors import DataError
from kbsc.util import progress


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate uint8 ``[N, H, W, 3]`` images (one-line :class:`DataError` otherwise)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise DataError(
            f"feature extractors take uint8 images [N, H, W, 3]; got {images.dtype} {list(images.shape)}"
        )
    return images


@torch.inference_mode()
def extract_batched(
    embed: Callable[[np.ndarray], torch.Tensor],
    images: np.ndarray,
    dim: int,
    batch_size: int,
    show_progress: bool,
    desc: str,
) -> np.ndarray:
    """Apply ``embed`` (uint8 ``[B, H, W, 3]`` → ``[B, dim]``) batch by batch; rows come out L2-normalized.

    returns float32 ``[N, dim]``
    """
    images = check_images(images)
    n = images.shape[0]
    out = np.empty((n, dim), dtype=np.float32)
    starts = range(0, n, batch_size)
    quiet = {} if show_progress else {"disable": True}
    bar = progress(starts, total=len(starts), desc=desc, unit="batch", **quiet)
    for start in bar:
        emb = embed(images[start : start + batch_size]).float()
        if emb.ndim != 2 or emb.shape[1] != dim:
            raise DataError(
                f"{desc}: the model returned features of shape {list(emb.shape)}, expected [B, {dim}]"
            )
        out[start : start + batch_size] = F.normalize(emb, dim=1).cpu().numpy()
    return out
