"""Image-quality metrics for decoded images: PSNR and MS-SSIM are :mod:`kbsc.metrics.image`'s (the same
functions the conventional baseline reports), plus the conversions between uint8 images and model tensors.

Images are uint8 ``[N, H, W, 3]`` (or float in [0, 255]); PSNR uses a peak of 255, per image.
"""

from __future__ import annotations

import numpy as np
import torch

from kbsc.metrics.image import ms_ssim, psnr

__all__ = ["ms_ssim", "psnr", "to_tensor", "to_uint8"]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` → float ``[B, 3, H, W]`` in [0, 1], the models' input."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] ``[N, H, W, 3]`` → uint8 (round to nearest, clipped)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
