"""Image-id arguments of the bridge: one int64 id per image (shared by :mod:`bridge` and :mod:`export`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kbsc.errors import ConfigError

__all__ = ["as_ids"]


def as_ids(image_ids: Any) -> np.ndarray:
    """int64 ``[B]`` from a list, array, tensor or single integer; a one-line ConfigError otherwise."""
    if isinstance(image_ids, torch.Tensor):
        image_ids = image_ids.detach().cpu().numpy()
    arr = np.asarray(image_ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"image_ids must be one id per image, shape [B]; got shape {tuple(arr.shape)}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"image_ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)
