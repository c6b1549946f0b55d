"""Image-quality metrics for decoded images: PSNR and MS-SSIM from :mod:`kbsc.baselines.metrics` when present
(the same functions the conventional baseline reports), else a local PSNR and no MS-SSIM.

Images are uint8 ``[N, H, W, 3]`` (or float in [0, 255]); PSNR uses a peak of 255, per image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ms_ssim_fn", "psnr", "to_uint8"]

MAX_PSNR = 100.0  # identical images (MSE 0) report this instead of +inf


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] ``[N, H, W, 3]`` → uint8 (round to nearest, clipped)."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _psnr(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB, float64 ``[N]`` (peak 255; capped at :data:`MAX_PSNR`)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = ((a - b) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(255.0**2 / mse)
    return np.minimum(out, MAX_PSNR)


def ms_ssim_fn() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """The baselines' per-image MS-SSIM ``(reference uint8, decoded uint8) → [N]``, or None."""
    try:
        from kbsc.baselines import metrics as bm  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(bm, "ms_ssim", None)
    return fn if callable(fn) else None


try:  # one definition for every system: the baselines' PSNR when it is there (same formula as _psnr)
    from kbsc.baselines.metrics import psnr as psnr
except ImportError:  # pragma: no cover - baselines not installed
    psnr = _psnr
