"""The interface every learned pixel JSCC model implements, and the latent ↔ symbol mapping they share.

A model maps images ``[B, 3, H, W]`` (float in [0, 1]) to ``k`` complex channel symbols per image and back:

* :meth:`JSCCModel.encode` ``(images, snr_db [B], k) → x`` complex64 ``[B, k]`` with mean power exactly 1 per
  image (:func:`power_normalize`);
* :meth:`JSCCModel.decode` ``(y [B, k], noise_var [B, k], snr_db [B], k) → images [B, 3, H, W]`` in [0, 1].

Latent layout: a model's latent is a real tensor ``[B, C, S]`` (C latent channels × S spatial positions); it
is read channel-major, so the first ``2k`` reals are channels ``0 … ⌈2k/S⌉-1`` (the last one possibly in
part). Consecutive real pairs form the complex symbols (``x_i = r_{2i} + j r_{2i+1}``). Reals past ``2k`` are
not sent: the decoder sees zeros there. This makes any ``k ≤ C·S/2`` possible with one architecture; a model
trained for one ``k`` (``deepjscc``) uses exactly ``⌈2k/S⌉`` latent channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = [
    "UNSENT_LOG_NV",
    "JSCCModel",
    "latent_to_symbols",
    "power_normalize",
    "spread_noise_var",
    "symbols_to_latent",
]

UNSENT_LOG_NV = 3.0


def power_normalize(x: torch.Tensor) -> torch.Tensor:
    """Scale each row of complex ``x [B, k]`` to mean power 1: ``x · sqrt(k / Σ|x|²)``."""
    p = (x.real**2 + x.imag**2).mean(dim=1, keepdim=True)
    return x / torch.sqrt(p.clamp_min(1e-12))


def latent_to_symbols(z: torch.Tensor, k: int) -> torch.Tensor:
    """Real latent ``[B, C, S]`` → complex ``[B, k]`` from its first ``2k`` reals (channel-major)."""
    flat = z.reshape(z.shape[0], -1)
    if 2 * k > flat.shape[1]:
        raise ValueError(f"latent holds {flat.shape[1] // 2} complex symbols, {k} requested")
    pairs = flat[:, : 2 * k].reshape(z.shape[0], k, 2)
    return torch.complex(pairs[..., 0].contiguous(), pairs[..., 1].contiguous())


def symbols_to_latent(y: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Complex ``[B, k]`` → real latent ``[B, C, S]`` (zeros past ``2k``): the inverse layout."""
    c, s = shape
    b, k = y.shape
    reals = torch.stack([y.real, y.imag], dim=-1).reshape(b, 2 * k)
    out = reals.new_zeros(b, c * s)
    out[:, : 2 * k] = reals
    return out.reshape(b, c, s)


def spread_noise_var(noise_var: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Per-symbol noise variance ``[B, k]`` → ``[B, C, S]`` map of log10 noise variance per real.

    Reals that were not sent get :data:`UNSENT_LOG_NV` (noise variance 1000: no information).
    """
    c, s = shape
    b, k = noise_var.shape
    per_real = torch.log10(noise_var.clamp(1e-6, 1e3) / 2.0).repeat_interleave(2, dim=1)
    out = per_real.new_full((b, c * s), UNSENT_LOG_NV)
    out[:, : 2 * k] = per_real
    return out.reshape(b, c, s)


class JSCCModel(nn.Module):
    """Base class of the learned pixel JSCC models (see the module docstring for the contract).

    Attributes: ``latent_shape = (C, S)`` of the full latent; ``rate_adaptive`` whether one model serves every
    ``k ≤ max_k`` (else it was built for ``k`` and only serves that); ``snr_adaptive`` whether it reads the
    SNR.
    """

    name: str = "jscc"
    rate_adaptive: bool = False
    snr_adaptive: bool = False
    latent_shape: tuple[int, int] = (0, 0)

    def __init__(self, k: int | None = None) -> None:
        super().__init__()
        self.k = k

    @property
    def max_k(self) -> int:
        c, s = self.latent_shape
        return c * s // 2

    def check_k(self, k: int) -> None:
        if k < 1 or k > self.max_k:
            raise ValueError(f"{self.name}: k={k} outside 1..{self.max_k}")
        if not self.rate_adaptive and self.k is not None and k != self.k:
            raise ValueError(f"{self.name} was built for k={self.k}, asked for k={k}")

    def channels_for(self, k: int) -> int:
        """Latent channels touched by ``k`` symbols: ``⌈2k / S⌉``."""
        return math.ceil(2 * k / self.latent_shape[1])

    def fit_statistics(self, images: np.ndarray) -> None:
        """Fit the data statistics of the parts that have them (a linear path's ``fit``) on uint8 training
        images ``[N, H, W, 3]``; called once before the first training step."""
        for module in self.modules():
            fit = getattr(module, "fit", None)
            if module is not self and callable(fit):
                fit(images)

    def encode(self, images: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """images ``[B, 3, H, W]`` in [0, 1], snr_db ``[B]`` → complex64 ``[B, k]``, unit power per image."""
        self.check_k(k)
        z = self.analysis(images, snr_db, k)
        return power_normalize(latent_to_symbols(z, k))

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """y complex ``[B, k]``, noise_var ``[B, k]``, snr_db ``[B]`` → images ``[B, 3, H, W]`` in [0, 1]."""
        self.check_k(k)
        z = symbols_to_latent(y, self.latent_shape)
        nv = spread_noise_var(noise_var, self.latent_shape)
        return self.synthesis(z, nv, snr_db, k)

    def analysis(self, images: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """images → real latent ``[B, C, S]``."""
        raise NotImplementedError

    def synthesis(self, z: torch.Tensor, log_nv: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """real latent ``[B, C, S]`` (zeros where not sent) and log10 noise variance map → images."""
        raise NotImplementedError

    def forward(
        self, images: torch.Tensor, snr_db: torch.Tensor, k: int, channel: object, image_ids: torch.Tensor
    ) -> torch.Tensor:
        """Encoder → ``channel.transmit`` → decoder (differentiable end to end)."""
        x = self.encode(images, snr_db, k)
        out = channel.transmit(x, image_ids, snr_db)
        return self.decode(out.y, out.noise_var, snr_db, k)
