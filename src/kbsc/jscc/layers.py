"""Building blocks shared by the JSCC models: GDN/IGDN normalization and SNR/rate attention modules.

* GDN (Ballé et al., 2016): ``y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)``; the inverse (IGDN) multiplies instead.
  β and γ are kept positive by squaring a stored parameter (with a floor), the usual reparametrisation.
* :class:`AttentionModulation`: the attention feature (AF) module of ADJSCC (Xu et al., 2021): global average
  pooling of the features, concatenated with a side vector (the SNR in dB; for SwinJSCC also the rate), two
  fully connected layers and a sigmoid give one gain per feature channel. SwinJSCC's channel ModNet and rate
  ModNet (Yang et al., 2024) follow the same idea, with the side information fed through small MLPs.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GDN", "AttentionModulation"]

GAIN_BIAS = 3.0  # sigmoid(3) ≈ 0.95


class GDN(nn.Module):
    """Generalized divisive normalization over channels of ``[B, C, H, W]`` (``inverse=True`` → IGDN)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta_p = nn.Parameter(torch.ones(channels))
        self.gamma_p = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_p.pow(2) + self.beta_min
        gamma = self.gamma_p.pow(2)
        c = x.shape[1]
        norm = nn.functional.conv2d(x * x, gamma.reshape(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


class AttentionModulation(nn.Module):
    """Channel-wise gains from pooled features + side information (ADJSCC AF module).

    x ``[B, C, ...]`` (channels first) or tokens ``[B, L, C]`` (``tokens=True``); side ``[B, S]``.
    """

    def __init__(self, channels: int, side_dim: int = 1, hidden: int | None = None, tokens: bool = False):
        super().__init__()
        hidden = hidden or max(channels // 2, 8)
        self.tokens = tokens
        self.net = nn.Sequential(
            nn.Linear(channels + side_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )
        nn.init.constant_(self.net[2].bias, GAIN_BIAS)  # gains start near 1: the block starts as identity

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=1) if self.tokens else x.flatten(2).mean(dim=2)
        gain = self.net(torch.cat([pooled, side], dim=1))
        if self.tokens:
            return x * gain[:, None, :]
        return x * gain.reshape(*gain.shape, *([1] * (x.dim() - 2)))
