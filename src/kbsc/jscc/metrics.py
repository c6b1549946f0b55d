"""Image-quality metrics for decoded images: PSNR and MS-SSIM are :mod:`kbsc.baselines.metrics`'s (the same
functions the conventional baseline reports), plus the float → uint8 conversion of decoded images.

Images are uint8 ``[N, H, W, 3]`` (or float in [0, 255]); PSNR uses a peak of 255, per image.
"""

from __future__ import annotations

import numpy as np

from kbsc.baselines.metrics import ms_ssim, psnr

__all__ = ["ms_ssim", "psnr", "to_uint8"]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] ``[N, H, W, 3]`` → uint8 (round to nearest, clipped)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
