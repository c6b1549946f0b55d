"""Image-quality metrics of decoded images: PSNR and MS-SSIM, per image.

MS-SSIM (Wang, Simoncelli & Bovik 2003) on 32×32 images: the standard 5 scales with an 11×11 window do not
fit (the coarsest scale would be 2×2), so we use **3 scales** and a **Gaussian window of 7×7, σ = 1.0**
(weights of the standard 5-scale set's first three, renormalised: 0.0448, 0.2856, 0.3001 → /0.6305), luminance
on the coarsest scale only, constants K1 = 0.01, K2 = 0.03, L = 255, on the RGB mean of the channel SSIMs.
Larger images use the standard 5 scales / 11×11 / σ = 1.5. Images too small for that many scales get fewer
(the coarsest scale is never smaller than the window), and NaN when even one scale does not fit.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

__all__ = ["ms_ssim", "ms_ssim_plan", "psnr"]

MAX_PSNR = 100.0
_W5 = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def psnr(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """float64 ``[N]`` PSNR in dB (peak 255), capped at 100 dB for identical images."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(255.0**2 / mse), MAX_PSNR)


def _gauss(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filt(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Valid-mode separable filtering over axes 1, 2 of ``[N, H, W, C]``."""
    y = correlate1d(x, g, axis=1, mode="constant")
    y = correlate1d(y, g, axis=2, mode="constant")
    r = len(g) // 2
    return y[:, r : y.shape[1] - r, r : y.shape[2] - r]


def _ssim_parts(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _filt(a, g), _filt(b, g)
    saa = _filt(a * a, g) - mu_a**2
    sbb = _filt(b * b, g) - mu_b**2
    sab = _filt(a * b, g) - mu_a * mu_b
    cs = (2 * sab + c2) / (saa + sbb + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return lum.mean(axis=(1, 2)), cs.mean(axis=(1, 2))  # [N, C]


def ms_ssim_plan(side: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The Gaussian window ``[size]`` and the per-scale weights ``[scales]`` for images whose shorter side is
    ``side`` (see the module docstring); None when not even one scale fits. Shared with the JSCC MS-SSIM loss.
    """
    scales, g = (3, _gauss(7, 1.0)) if side < 176 else (5, _gauss(11, 1.5))
    while scales and side // 2 ** (scales - 1) < len(g):  # tiny images: fewer scales, never an empty window
        scales -= 1
    if scales == 0:
        return None
    return g, _W5[:scales] / _W5[:scales].sum()


def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """float64 ``[N]`` MS-SSIM of uint8 ``[N, H, W, 3]`` pairs (see the module docstring for 32×32)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    if a.ndim == 3:
        a, b = a[None], b[None]
    plan = ms_ssim_plan(min(a.shape[1:3]))
    if plan is None:
        return np.full(len(a), np.nan)
    g, w = plan
    scales = len(w)
    out = np.ones((len(a), a.shape[3]))
    for s in range(scales):
        lum, cs = _ssim_parts(a, b, g)
        val = lum * cs if s == scales - 1 else cs
        out *= np.maximum(val, 0.0) ** w[s]
        if s < scales - 1:
            h, wd = a.shape[1] // 2 * 2, a.shape[2] // 2 * 2
            a = a[:, :h, :wd].reshape(len(a), h // 2, 2, wd // 2, 2, -1).mean(axis=(2, 4))
            b = b[:, :h, :wd].reshape(len(b), h // 2, 2, wd // 2, 2, -1).mean(axis=(2, 4))
    return out.mean(axis=1)
