"""Training losses of the JSCC models: ``mse`` (default, maximizes PSNR) and ``ms-ssim`` (1 − MS-SSIM).

The MS-SSIM is the differentiable torch twin of :func:`kbsc.metrics.image.ms_ssim` (same scales, window,
weights and constants, on images in [0, 1] with L = 1), so the training loss and the reported metric agree.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kbsc.metrics.image import ms_ssim_plan
from kbsc.util.registry import Registry

__all__ = ["LOSSES", "ms_ssim_torch"]

LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("JSCC loss")


def _filt(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Valid separable filtering of ``[B, C, H, W]`` per channel."""
    c = x.shape[1]
    g = g.to(x.dtype)
    x = F.conv2d(x, g.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ms_ssim_torch(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MS-SSIM ``[B]`` of images ``[B, 3, H, W]`` in [0, 1] (differentiable in both)."""
    plan = ms_ssim_plan(min(a.shape[-2:]))
    if plan is None:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for MS-SSIM")
    g, w = torch.from_numpy(plan[0]), plan[1].tolist()
    scales = len(w)
    c1, c2 = 0.01**2, 0.03**2
    out = a.new_ones(a.shape[0], a.shape[1])
    for s in range(scales):
        mu_a, mu_b = _filt(a, g), _filt(b, g)
        saa = _filt(a * a, g) - mu_a**2
        sbb = _filt(b * b, g) - mu_b**2
        sab = _filt(a * b, g) - mu_a * mu_b
        cs = ((2 * sab + c2) / (saa + sbb + c2)).mean(dim=(2, 3))
        if s == scales - 1:
            lum = ((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)).mean(dim=(2, 3))
            val = lum * cs
        else:
            val = cs
        out = out * val.clamp_min(1e-6) ** w[s]  # the metric clamps at 0; 1e-6 keeps the gradient finite
        if s < scales - 1:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return out.mean(dim=1)


@LOSSES.register("mse")
def mse_loss(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Mean squared error (peak 1)."""
    return F.mse_loss(decoded, images)


@LOSSES.register("ms-ssim")
def ms_ssim_loss(decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """1 − mean MS-SSIM."""
    return 1.0 - ms_ssim_torch(decoded, images).mean()
