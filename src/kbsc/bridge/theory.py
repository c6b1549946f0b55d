"""Closed-form uncoded bit error rates of Gray-coded square M-QAM (SNR = Es/N0 per symbol, linear γ).

AWGN: the exact expression of K. Cho and D. Yoon, "On the general BER expression of one- and
two-dimensional amplitude modulations", IEEE Trans. Commun. 50(7), 2002, eq. (14)/(16)::

    P_b = 1/log2(√M) · Σ_{k=1}^{log2 √M} P_k,
    P_k = 1/√M · Σ_{i=0}^{(1−2^{−k})√M − 1} (−1)^{⌊i·2^{k−1}/√M⌋} (2^{k−1} − ⌊i·2^{k−1}/√M + ½⌋)
                · erfc((2i+1)·√(3γ / (2(M−1))))

Rayleigh fading with perfect CSI: each erfc(√(c·γ)) averages over an exponential γ of mean γ̄ to
1 − √(c·γ̄ / (1 + c·γ̄)) (Simon & Alouini, Digital Communication over Fading Channels, eq. (5.6)). For QPSK
this is ½(1 − √(γ_b / (1 + γ_b))) with γ_b = γ̄/2.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc

__all__ = ["ber_qam", "ber_qam_awgn", "ber_qam_rayleigh"]


def _terms(m: int) -> list[tuple[float, float]]:
    """(weight, c) pairs with P_b = Σ weight · erfc(√(c·γ))."""
    big_m = 2**m
    side = int(round(math.sqrt(big_m)))
    levels = int(round(math.log2(side)))
    out: list[tuple[float, float]] = []
    for k in range(1, levels + 1):
        for i in range(int((1 - 2.0**-k) * side)):
            f = i * 2 ** (k - 1) / side
            w = (-1) ** math.floor(f) * (2 ** (k - 1) - math.floor(f + 0.5)) / side / levels
            out.append((w, (2 * i + 1) ** 2 * 3.0 / (2.0 * (big_m - 1))))
    return out


def ber_qam_awgn(snr_db: float | np.ndarray, m: int) -> np.ndarray:
    """Exact BER of Gray M-QAM (m bits/symbol) in AWGN at Es/N0 = ``snr_db``."""
    g = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return sum(w * erfc(np.sqrt(c * g)) for w, c in _terms(m))


def ber_qam_rayleigh(snr_db: float | np.ndarray, m: int) -> np.ndarray:
    """BER of Gray M-QAM in Rayleigh fading (E|h|² = 1, perfect CSI) at mean Es/N0 = ``snr_db``."""
    g = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return sum(w * (1.0 - np.sqrt(c * g / (1.0 + c * g))) for w, c in _terms(m))


THEORY = {"awgn": ber_qam_awgn, "rayleigh": ber_qam_rayleigh}


def ber_qam(kind: str, snr_db: float | np.ndarray, m: int) -> np.ndarray:
    """``kind`` = ``"awgn"`` or ``"rayleigh"``."""
    return THEORY[kind](snr_db, m)
