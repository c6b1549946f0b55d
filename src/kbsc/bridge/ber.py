"""Uncoded bit error rate through the bridge (the ``kbsc ber`` measurement), with confidence intervals.

Each "image" is one slot filled with D random QAM symbols (image ids 0, 1, …: the same realizations for every
modulation and SNR); detection is nearest-point on the equalized symbols, as the closed forms assume.
Errors within a slot share the slot's channel (block fading), so bits are not independent trials: the
interval is Clopper–Pearson on the *effective* number of bits n / deff, with the design effect deff estimated
from the per-slot error counts (Kish; deff ≥ 1, and deff = 1 gives the plain Clopper–Pearson interval).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import beta

from kbsc.bridge.bridge import Bridge
from kbsc.bridge.modulation import bits_per_symbol, hard_decision_bits, map_bits
from kbsc.util import progress

__all__ = ["BerPoint", "clustered_interval", "simulate_ber"]


@dataclass
class BerPoint:
    channel: str
    csi: str
    modulation: str
    bits_per_symbol: int
    snr_db: float
    bits: int
    errors: int
    ber: float
    ber_lo: float
    ber_hi: float
    slots: int
    design_effect: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clustered_interval(
    errors: np.ndarray, bits_per_cluster: int, level: float = 0.95
) -> tuple[float, float, float]:
    """(lo, hi, deff): Clopper–Pearson interval on the effective sample size for error counts per cluster."""
    e = np.asarray(errors, dtype=np.float64)
    n_bits = e.size * bits_per_cluster
    p = e.sum() / n_bits
    deff = 1.0
    if e.size > 1 and 0 < p < 1:
        var_cluster = np.var(e / bits_per_cluster, ddof=1) / e.size
        deff = max(1.0, var_cluster / (p * (1 - p) / n_bits))
    n_eff = n_bits / deff
    x = p * n_eff
    a = (1 - level) / 2
    lo = 0.0 if x <= 0 else float(beta.ppf(a, x, n_eff - x + 1))
    hi = 1.0 if x >= n_eff else float(beta.ppf(1 - a, x + 1, n_eff - x))
    return lo, hi, float(deff)


def simulate_ber(
    bridge: Bridge,
    modulation: str,
    snr_db: float,
    n_bits: int,
    seed: int = 0,
    batch: int = 64,
    show_progress: bool = False,
    level: float = 0.95,
) -> BerPoint:
    """Send at least ``n_bits`` uncoded bits of ``modulation`` at ``snr_db`` through ``bridge``; the interval
    has confidence ``level``."""
    m = bits_per_symbol(modulation)
    d = bridge.data_res_per_slot
    n_img = max(1, -(-int(n_bits) // (d * m)))
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + m)
    errors = np.zeros(n_img, dtype=np.int64)
    steps = range(0, n_img, batch)
    it = progress(steps, desc=f"{bridge.channel} {modulation} {snr_db:g} dB") if show_progress else steps
    for s in it:
        ids = np.arange(s, min(s + batch, n_img), dtype=np.int64)
        bits = torch.randint(0, 2, (len(ids), d * m), generator=gen)
        with torch.no_grad():
            out = bridge.transmit(map_bits(bits, m), ids, float(snr_db))
        errors[ids] = (hard_decision_bits(out.y, m) != bits).sum(dim=1).numpy()
    lo, hi, deff = clustered_interval(errors, d * m, level)
    total = n_img * d * m
    return BerPoint(
        channel=bridge.channel,
        csi=bridge.csi,
        modulation=str(modulation),
        bits_per_symbol=m,
        snr_db=float(snr_db),
        bits=int(total),
        errors=int(errors.sum()),
        ber=float(errors.sum() / total),
        ber_lo=lo,
        ber_hi=hi,
        slots=int(n_img),
        design_effect=deff,
    )
