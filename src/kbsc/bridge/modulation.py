"""Gray-labelled square QAM (3GPP TS 38.211 §5.1 labelling, unit average energy), bit mapping and demapping.

The constellation is the one Sionna's ``qam()`` builds (tests check it point by point): point ``c[n]`` carries
the bits of ``n`` written MSB first, b0 b1 … b(m−1); the even bits b0, b2, … choose the in-phase level and the
odd bits the quadrature level, each dimension Gray-coded (so exact Gray-QAM error formulas apply).

LLR sign convention (Sionna's): ``llr = ln P(b = 1 | y) / P(b = 0 | y)``; positive means bit 1, so the
hard decision is ``llr > 0``. Sionna's ``LDPC5GDecoder`` expects exactly these LLRs. ``demap_llr``
computes the exact (``"app"``) LLRs for y ≈ x + e, e ~ CN(0, noise_var) per symbol, or their max-log
approximation (``"maxlog"``).
``qam_mapper``/``qam_demapper`` return Sionna's own blocks, the oracles of
``tests/unit/test_bridge_oracle_sionna.py`` (slow import).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import torch

from kbsc.errors import ConfigError

__all__ = [
    "MODULATIONS",
    "bits_per_symbol",
    "demap_llr",
    "hard_decision_bits",
    "map_bits",
    "qam_constellation",
    "qam_demapper",
    "qam_mapper",
]

MODULATIONS = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8, "1024qam": 10}


def bits_per_symbol(modulation: str | int) -> int:
    """2 for ``"qpsk"``, 4 for ``"16qam"``, … (an even integer passes through)."""
    if isinstance(modulation, (int, np.integer)) and not isinstance(modulation, bool):
        m = int(modulation)
    else:
        try:
            m = MODULATIONS[str(modulation).lower()]
        except KeyError:
            raise ConfigError(
                f"unknown modulation {modulation!r}; choose one of: {', '.join(MODULATIONS)}"
            ) from None
    if m < 2 or m % 2 or m > 16:
        raise ConfigError(f"square QAM needs an even number of bits per symbol in 2..16, got {m}")
    return m


def _pam_level(bits: np.ndarray) -> np.ndarray:
    """TS 38.211 recursion for one dimension: bits ``[..., L]`` (MSB first) → level in {±1, ±3, …}."""
    level = np.zeros(bits.shape[:-1])
    n = bits.shape[-1]
    for j in range(n - 1, -1, -1):  # innermost term first: (1-2b_{n-1}), then 2^{n-1-j} - previous
        sign = 1 - 2 * bits[..., j]
        level = sign * (1 if j == n - 1 else (2 ** (n - 1 - j)) - level)
    return level


@cache
def _constellation(m: int) -> np.ndarray:
    labels = np.arange(2**m)
    bits = (labels[:, None] >> np.arange(m - 1, -1, -1)[None, :]) & 1  # [M, m] MSB first
    c = _pam_level(bits[:, 0::2]) + 1j * _pam_level(bits[:, 1::2])
    return c / np.sqrt(np.mean(np.abs(c) ** 2))


def qam_constellation(m: int) -> np.ndarray:
    """complex128 ``[2**m]`` unit-energy points; index n ↔ label bits of n (MSB first)."""
    return _constellation(bits_per_symbol(m)).copy()


@cache
def _label_bits(m: int) -> torch.Tensor:
    labels = torch.arange(2**m)
    return ((labels[:, None] >> torch.arange(m - 1, -1, -1)[None, :]) & 1).to(torch.int64)  # [M, m]


def map_bits(bits: Any, m: int) -> torch.Tensor:
    """bits ``[B, n_bits]`` (0/1, n_bits a multiple of m) → complex64 symbols ``[B, n_bits / m]``."""
    m = bits_per_symbol(m)
    b = torch.as_tensor(bits)
    if b.dim() != 2 or b.shape[1] % m:
        raise ConfigError(f"bits must be [batch, n_bits] with n_bits a multiple of {m}, got {tuple(b.shape)}")
    weights = 2 ** torch.arange(m - 1, -1, -1)
    idx = (b.reshape(b.shape[0], -1, m).to(torch.int64) * weights).sum(-1)
    points = torch.from_numpy(_constellation(m).astype(np.complex64))
    return points[idx]


def hard_decision_bits(y: torch.Tensor, m: int) -> torch.Tensor:
    """Nearest-point (symbol ML for a scalar noise) decisions: y ``[B, n_sym]`` → int64 bits ``[B, n_sym·m]``.

    Per dimension this is the threshold detector the closed-form Gray-QAM error rates assume."""
    m = bits_per_symbol(m)
    levels = torch.from_numpy(np.unique(np.round(_constellation(m).real, 12)))  # ascending PAM levels

    def nearest(v: torch.Tensor) -> torch.Tensor:
        mid = (levels[1:] + levels[:-1]) / 2
        return torch.bucketize(v.to(levels.dtype).contiguous(), mid)

    i_idx, q_idx = nearest(y.real), nearest(y.imag)  # [B, n] in 0..side-1
    lut = _level_to_point_index(m)  # [side, side]
    point = lut[i_idx, q_idx]
    bits = _label_bits(m)[point]  # [B, n, m]
    return bits.reshape(y.shape[0], -1)


@cache
def _level_to_point_index(m: int) -> torch.Tensor:
    c = _constellation(m)
    levels = np.unique(np.round(c.real, 12))
    lut = np.zeros((len(levels), len(levels)), dtype=np.int64)
    for n, p in enumerate(c):
        i = int(np.argmin(np.abs(levels - p.real)))
        q = int(np.argmin(np.abs(levels - p.imag)))
        lut[i, q] = n
    return torch.from_numpy(lut)


@cache
def _pam_demap_tables(m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per dimension of square QAM: levels float32 ``[S]`` (S = 2**(m/2), unit-energy scale of the full
    constellation) and the level indices with bit i = 1 / = 0, int64 ``[m/2, S/2]`` each."""
    half = m // 2
    labels = np.arange(2**half)
    bits = (labels[:, None] >> np.arange(half - 1, -1, -1)[None, :]) & 1  # [S, m/2] MSB first
    raw = _pam_level(bits)
    levels = raw / np.sqrt(2.0 * np.mean(raw**2))  # E|c|^2 = E[I^2] + E[Q^2] = 1
    idx1 = np.stack([np.flatnonzero(bits[:, j]) for j in range(half)])
    idx0 = np.stack([np.flatnonzero(1 - bits[:, j]) for j in range(half)])
    return (torch.from_numpy(levels.astype(np.float32)), torch.from_numpy(idx1), torch.from_numpy(idx0))


def demap_llr(
    y: torch.Tensor, noise_var: torch.Tensor, m: int, method: str = "app", chunk: int = 65536
) -> torch.Tensor:
    """LLRs ln P(b=1|y)/P(b=0|y): y complex ``[B, n_sym]``, noise_var float ``[B, n_sym]`` (or broadcastable)
    → float32 ``[B, n_sym·m]`` in the bit order of :func:`map_bits`. Differentiable.

    Square QAM with this labelling is a product of two PAMs (even bits ↔ in-phase, odd bits ↔ quadrature) and
    the noise CN(0, N0) splits into two independent real parts, so each bit's LLR involves only its own
    dimension: ln Σ_{a: b=1} exp(−(y_I − a)²/N0) − ln Σ_{a: b=0} exp(−(y_I − a)²/N0) (the other dimension's
    sum is common to both terms and cancels). That is exact and costs 2·2^(m/2) terms per symbol instead of
    2^m (16 instead of 64 for 64-QAM, 32 instead of 256 for 256-QAM)."""
    m = bits_per_symbol(m)
    if method not in ("app", "maxlog"):
        raise ConfigError(f"unknown demapping method {method!r}; choose one of: app, maxlog")
    if y.dim() != 2:
        raise ConfigError(f"y must be [batch, n_sym], got shape {tuple(y.shape)}")
    nv = torch.as_tensor(noise_var, dtype=torch.float32).expand(y.shape).clamp_min(1e-30)
    levels, idx1, idx0 = _pam_demap_tables(m)
    flat_y, flat_nv = y.reshape(-1), nv.reshape(-1)
    outs = []
    for s in range(0, flat_y.numel(), chunk):
        yy, vv = flat_y[s : s + chunk], flat_nv[s : s + chunk]
        per_dim = []
        for comp in (yy.real, yy.imag):
            logits = -((comp[:, None] - levels[None, :]) ** 2) / vv[:, None]  # [n, S]
            l1, l0 = logits[:, idx1], logits[:, idx0]  # [n, m/2, S/2]
            if method == "app":
                per_dim.append(torch.logsumexp(l1, -1) - torch.logsumexp(l0, -1))
            else:
                per_dim.append(l1.amax(-1) - l0.amax(-1))
        outs.append(torch.stack(per_dim, dim=-1).reshape(len(yy), m))  # b0 (I) b1 (Q) b2 (I) …
    llr = torch.cat(outs) if outs else torch.zeros((0, m))
    return llr.reshape(y.shape[0], -1).to(torch.float32)


def qam_mapper(m: int) -> Any:
    """Sionna's ``Mapper("qam", m)`` (same constellation and labels as :func:`map_bits`)."""
    from sionna.phy.mapping import Mapper

    return Mapper("qam", bits_per_symbol(m))


def qam_demapper(m: int, method: str = "app") -> Any:
    """Sionna's ``Demapper(method, "qam", m)``: LLRs ln P(b=1)/P(b=0), as :func:`demap_llr`."""
    from sionna.phy.mapping import Demapper

    return Demapper(method, "qam", bits_per_symbol(m))
