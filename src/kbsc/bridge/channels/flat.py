"""Flat channels: ``awgn`` (h = 1), ``rayleigh`` (block fading, one CN(0, 1) gain per slot), and the paper
authors' own channels ``authors-awgn`` (y = x + n) and ``authors-rayleigh`` (y = |h|·x + n, an i.i.d. Rayleigh
magnitude per symbol with E|h|² = 1, no phase), which bypass pilots, estimation and equalization."""

from __future__ import annotations

import numpy as np

from kbsc.bridge.channels.base import CHANNELS, ChannelModel

__all__ = ["AWGN", "AuthorsAWGN", "AuthorsRayleigh", "BlockRayleigh"]


def _ones(n: int, m: int) -> np.ndarray:
    return np.ones((n, m), dtype=np.complex128)


@CHANNELS.register("awgn")
class AWGN(ChannelModel):
    name = "awgn"
    random = False

    def slot_response(self, gen: np.random.Generator | None) -> np.ndarray:
        return np.ones(self.rg.shape, dtype=np.complex128)

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _ones(len(a), len(b))


@CHANNELS.register("rayleigh")
class BlockRayleigh(ChannelModel):
    """One complex gain h ~ CN(0, 1) for the whole slot (every RE of the slot sees the same h)."""

    name = "rayleigh"

    def slot_response(self, gen: np.random.Generator) -> np.ndarray:
        re, im = gen.standard_normal(2) * np.sqrt(0.5)
        return np.full(self.rg.shape, complex(re, im), dtype=np.complex128)

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _ones(len(a), len(b))


@CHANNELS.register("authors-awgn")
class AuthorsAWGN(AWGN):
    """The KBSC authors' AWGN channel: y = x + n, returned raw with noise_var = N0."""

    name = "authors-awgn"
    equalize = False


@CHANNELS.register("authors-rayleigh")
class AuthorsRayleigh(ChannelModel):
    """The KBSC authors' fading: y = |h|·x + n with an i.i.d. Rayleigh magnitude per RE (E|h|² = 1), no
    phase; the receiver gets the raw y and noise_var = N0 (no CSI is used)."""

    name = "authors-rayleigh"
    equalize = False

    def slot_response(self, gen: np.random.Generator) -> np.ndarray:
        z = gen.standard_normal((2, *self.rg.shape)) * np.sqrt(0.5)
        return np.hypot(z[0], z[1]).astype(np.complex128)

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        same = (a[:, None, 0] == b[None, :, 0]) & (a[:, None, 1] == b[None, :, 1])
        return np.where(same, 1.0, np.pi / 4).astype(np.complex128)  # E|h| = √π/2 for a Rayleigh |h|
