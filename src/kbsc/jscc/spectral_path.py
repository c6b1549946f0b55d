"""A SoftCast-style global linear path beside a JSCC model (``linear_path: spectral``).

The encoder adds to its latent the image's global transform coefficients, sorted by their training-set
variance and scaled for power allocation; the decoder adds back the inverse transform of a per-coefficient
LMMSE estimate that reads the noise variance the channel reports for each latent entry. This is the analog
scheme of SoftCast (Jakubczak and Katabi, 2011: DCT, power allocation ``g ∝ λ^(-1/4)``, LMMSE decoding),
with a learned correction of each gain, inside a model whose nonlinear layers learn what a linear code cannot.
The power allocation is the LMMSE-optimal one for the image's SNR (reverse water-filling, which tends to
SoftCast's ``λ^(-1/4)`` at high SNR and turns weak coefficients off at low SNR: +0.7 dB at 0 dB, CBR 1/2).

Transform: a 3×3 colour KLT (principal axes of the training pixels) followed by an orthonormal 2-D DCT-II of
each of the three planes. The latent's first :data:`PILOT` flat (channel-major) entries carry a constant
pilot; coefficient ``r`` in decreasing order of variance is carried by entry ``PILOT + r``, so the entries
sent first — the ones a rate-adaptive model keeps at a small ``k`` — hold the strongest coefficients, and a
model built for fewer entries than coefficients drops the weakest ones.

The statistics (pixel mean, colour axes, coefficient variances and their order) are fitted on the training
images before the first step (:meth:`SpectralPath.fit`) and saved with the weights as buffers.

Why (our addition, not in DeepJSCC or SwinJSCC): on synthetic100 the optimal linear code with a global
transform (colour KLT + DCT, LMMSE) reaches 30.1 dB at CBR 1/2 and AWGN 10 dB, the best 4×4 block-linear
code 28.0 dB (the ``block`` path's ceiling) — computed from the training set's coefficient variances by
reverse water-filling of the LMMSE distortion.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from kbsc.jscc.linear_path import LINEAR_PATHS

__all__ = ["PILOT", "PILOT_POWER", "SpectralPath", "dct_matrix", "waterfill_gains"]

PILOT = 4
"""Latent reals (the first ones, always sent) that carry a constant: the decoder reads from them the scale
the per-image power normaliser applied, which a linear decoder needs and cannot otherwise know."""
PILOT_POWER = 8.0
"""Power of each pilot real relative to the coefficients' mean power before normalisation (~1 % of the
power at CBR 1/2)."""
FIT_CHUNK = 2048
"""Images per chunk of :meth:`SpectralPath.fit`."""


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``[n, n]``: row ``u`` is basis function ``u`` (``D @ x`` transforms)."""
    i = torch.arange(n, dtype=torch.float64)
    d = torch.cos(math.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.float()


@LINEAR_PATHS.register("spectral")
class SpectralPath(nn.Module):
    """images ``[B, 3, H, W]`` → latent ``[B, C, S]``; latent and its log10 noise variance → logits.

    ``C·S`` latent entries carry the ``min(C·S, 3·H·W)`` strongest coefficients.
    """

    def __init__(self, latent_channels: int, side: int, image_size: int) -> None:
        super().__init__()
        if image_size % side:
            raise ValueError(f"image_size {image_size} is not a multiple of the latent side {side}")
        self.latent_shape = (int(latent_channels), int(side) ** 2)
        self.size = int(image_size)
        n = 3 * self.size**2
        self.n_sent = min(n, self.latent_shape[0] * self.latent_shape[1] - PILOT)
        self.register_buffer("dct", dct_matrix(self.size))
        self.register_buffer("mean", torch.zeros(3, self.size, self.size))
        self.register_buffer("colour", torch.eye(3))
        self.register_buffer("order", torch.arange(n))
        self.register_buffer("var", torch.ones(n))
        # learned corrections (log domain, 0 = SoftCast's analytic choice)
        self.enc_gain = nn.Parameter(torch.zeros(self.n_sent))
        self.dec_gain = nn.Parameter(torch.zeros(self.n_sent))
        self.dec_snr = nn.Parameter(torch.zeros(self.n_sent))

    @torch.no_grad()
    def fit(self, images: np.ndarray) -> None:
        """Fit mean, colour axes and coefficient variances on uint8 training images ``[N, H, W, 3]``.

        Computed in float64 on the CPU whatever the model's device (the same statistics everywhere), then
        copied into the buffers. Three passes over chunks of :data:`FIT_CHUNK` images (float64 per chunk
        only: the whole 50,000-image split as float64 would take 1.2 GB, and each centred copy as much
        again)."""
        n = len(images)

        def chunks():
            for s in range(0, n, FIT_CHUNK):
                part = np.ascontiguousarray(images[s : s + FIT_CHUNK])
                yield torch.from_numpy(part).to(torch.float64).div_(255.0).permute(0, 3, 1, 2)

        mean = sum(x.sum(dim=0) for x in chunks()) / n
        cov = sum((y.T @ y) for y in ((x - mean).permute(0, 2, 3, 1).reshape(-1, 3) for x in chunks()))
        w, v = torch.linalg.eigh(cov / (n * self.size**2))
        v = v[:, torch.argsort(w, descending=True)]
        signs = torch.sign(v.gather(0, v.abs().argmax(dim=0, keepdim=True)))
        colour = (v * signs).T  # rows: principal axes, largest variance first
        dct = dct_matrix(self.size).double()  # on the CPU: the statistics are the same on every device
        var = sum((self._coefficients(x - mean, colour, dct) ** 2).sum(dim=0) for x in chunks()) / n
        order = torch.argsort(var, descending=True, stable=True)
        self.mean.copy_(mean.float())
        self.colour.copy_(colour.float())
        self.order.copy_(order)
        self.var.copy_(var[order].float().clamp_min(1e-12))

    @staticmethod
    def _coefficients(x: torch.Tensor, colour: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
        """Centred images ``[B, 3, H, W]`` → coefficients ``[B, 3·H·W]`` in natural (plane, u, v) order."""
        y = torch.einsum("jc,bchw->bjhw", colour, x)
        return (dct @ y @ dct.T).flatten(1)

    def _gains(self, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """Per-image gains ``[B, n_sent]``: the LMMSE-optimal power allocation for the image's SNR over the
        ``min(n_sent, 2k − PILOT)`` strongest coefficients (:func:`waterfill_gains`; SoftCast's
        ``λ^(-1/4)`` at high SNR), times the learned correction."""
        n_active = max(1, min(self.n_sent, 2 * int(k) - PILOT))
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=self.var.device).reshape(-1)
        g = waterfill_gains(self.var[:n_active], snr)
        g = nn.functional.pad(g, (0, self.n_sent - n_active))
        return g * torch.exp(self.enc_gain)

    def encode(self, centred: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        """Images minus 0.5 ``[B, 3, H, W]``, SNR dB ``[B]`` (or scalar), k → latent ``[B, C, S]``: the pilot,
        then the coefficients (entries past them are 0)."""
        x = centred + (0.5 - self.mean)
        c = self._coefficients(x, self.colour, self.dct)[:, self.order[: self.n_sent]]
        out = c.new_zeros(c.shape[0], self.latent_shape[0] * self.latent_shape[1])
        out[:, :PILOT] = math.sqrt(PILOT_POWER)
        out[:, PILOT : PILOT + self.n_sent] = c * self._gains(snr_db, k).expand_as(c)
        return out.reshape(c.shape[0], *self.latent_shape)

    def decode(self, z: torch.Tensor, log_nv: torch.Tensor, k: int, snr_db: torch.Tensor) -> torch.Tensor:
        """Latent ``[B, C, S]`` (0 where not sent) and its log10 noise variance per real ``[B, C, S]``, k, SNR
        dB ``[B]`` → logits ``[B, 3, H, W]`` whose sigmoid is the LMMSE image (SoftCast's decoder with
        learned corrections): ``ĉ = y·s·g·λ / (s²·g²·λ + σ²)`` per coefficient, ``s`` read from the pilot."""
        b = z.shape[0]
        flat, nv = z.reshape(b, -1), torch.pow(10.0, log_nv.reshape(b, -1))
        scale = (flat[:, :PILOT].mean(dim=1, keepdim=True) / math.sqrt(PILOT_POWER)).clamp_min(1e-3)
        y, nv = flat[:, PILOT : PILOT + self.n_sent], nv[:, PILOT : PILOT + self.n_sent]
        g = self._gains(snr_db, k)
        lam = self.var[: self.n_sent]
        est = (
            y
            * scale
            * g
            * lam
            * torch.exp(self.dec_gain)
            / (scale**2 * g**2 * lam * torch.exp(self.dec_snr) + nv)
        )
        coeff = est.new_zeros(b, self.var.numel())
        coeff[:, self.order[: self.n_sent]] = est
        planes = coeff.reshape(b, 3, self.size, self.size)
        x = self.dct.T @ planes @ self.dct
        x = torch.einsum("jc,bjhw->bchw", self.colour, x) + self.mean
        return torch.logit(x.clamp(0.01, 0.99))


def waterfill_gains(lam: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Gains ``[B, n]`` minimising the LMMSE distortion ``Σ λσ²/(g²λ + σ²)`` of coefficients with variances
    ``lam`` ``[n]`` (decreasing) under ``Σ g²λ = n``, noise ``σ² = 10^(-snr/10)`` per entry, SNR ``[B]``.

    KKT: ``g²λ = max(0, σ·t·√λ − σ²)`` with ``t = (n + mσ²) / (σ·Σ_{i≤m} √λ_i)`` over the ``m`` active
    (strongest) coefficients, ``m`` the largest for which the ``m``-th is still positive (reverse
    water-filling of the analog code; SoftCast's ``g ∝ λ^(-1/4)`` as σ → 0).
    """
    n = lam.numel()
    sigma = torch.pow(10.0, -snr_db.to(lam.dtype) / 20.0)[:, None]  # [B, 1]
    root = lam.sqrt()  # [n]
    m = torch.arange(1, n + 1, dtype=lam.dtype, device=lam.device)
    t = (n + m * sigma**2) / (sigma * root.cumsum(0))  # [B, n]
    active = root * t > sigma
    # active is a prefix: the count of leading True values
    count = active.to(torch.int64).cumprod(dim=1).sum(dim=1, keepdim=True).clamp_min(1)  # [B, 1]
    t_m = t.gather(1, count - 1)
    power = (sigma * t_m * root - sigma**2).clamp_min(0.0)
    power = torch.where(torch.arange(n, device=lam.device)[None, :] < count, power, torch.zeros_like(power))
    return torch.sqrt(power / lam)
