"""Statistics on accuracies: Wilson intervals and the paired comparison of two systems on the same images.

* :func:`wilson` — Wilson score interval (:func:`kbsc.metrics.retrieval.wilson_interval`, i.e. scipy's
  ``binomtest(...).proportion_ci(method="wilson")``).
* :func:`mcnemar_exact` — McNemar's exact test: under H0 the discordant pairs split 50/50, so the p-value is
  the two-sided binomial test of ``b`` successes in ``b + c`` trials (``scipy.stats.binomtest``).
* :func:`paired_diff_interval` — Newcombe's (1998, "method 10") interval for the difference of two paired
  proportions, built from the two Wilson intervals and the *continuity-adjusted* phi correlation of the 2×2
  table (Newcombe RG, Stat Med 1998;17:2635-50, section 2, method 10; worked example in Altman et al.,
  "Statistics with Confidence", 2nd ed., 2000, ch. 6).
* :func:`compare_systems` — all of it per cell, from ``outcomes.parquet``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from kbsc.errors import ConfigError
from kbsc.metrics.retrieval import wilson_interval

__all__ = [
    "PairedResult",
    "compare_systems",
    "mcnemar_exact",
    "paired_diff_interval",
    "paired_test",
    "wilson",
]

NAN = float("nan")


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (nan, nan) when ``n == 0``."""
    if n <= 0:
        return NAN, NAN
    return wilson_interval(successes, n, confidence)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` (A right, B wrong) and ``c`` (A wrong, B right) pairs."""
    if b + c == 0:
        return 1.0
    return float(binomtest(int(b), int(b + c), 0.5).pvalue)


def _newcombe_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's adjusted phi: numerator ad − bc, reduced by n/2 toward 0 when positive (to 0 if that crosses
    0), left as it is when negative; 0 when a margin of the table is empty."""
    n = a + b + c + d
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    if denom <= 0:
        return 0.0
    num = float(a * d - b * c)
    if num > 0:
        num = max(num - n / 2.0, 0.0)
    return num / math.sqrt(denom)


def paired_diff_interval(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's interval for p_A − p_B from the paired 2×2 table.

    a: both right, b: A right/B wrong, c: A wrong/B right, d: both wrong.
    """
    n = a + b + c + d
    if n == 0:
        return NAN, NAN
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, confidence)
    l2, u2 = wilson(a + c, n, confidence)
    phi = _newcombe_phi(a, b, c, d)
    delta = p1 - p2
    lo = delta - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    hi = delta + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return max(lo, -1.0), min(hi, 1.0)


@dataclass
class PairedResult:
    """Paired comparison of A and B on the same n images (difference = acc_A − acc_B)."""

    n: int
    acc_a: float
    acc_b: float
    diff: float
    diff_lo: float
    diff_hi: float
    a_only: int
    b_only: int
    p_value: float


def paired_test(correct_a: np.ndarray, correct_b: np.ndarray, confidence: float = 0.95) -> PairedResult:
    """Compare two boolean vectors ``[N]`` of per-image correctness on the same images."""
    ca = np.asarray(correct_a, dtype=bool)
    cb = np.asarray(correct_b, dtype=bool)
    if ca.shape != cb.shape:
        raise ValueError(f"paired vectors differ in shape: {ca.shape} vs {cb.shape}")
    a = int(np.sum(ca & cb))
    b = int(np.sum(ca & ~cb))
    c = int(np.sum(~ca & cb))
    d = int(np.sum(~ca & ~cb))
    n = a + b + c + d
    lo, hi = paired_diff_interval(a, b, c, d, confidence)
    return PairedResult(
        n=n,
        acc_a=(a + b) / n if n else NAN,
        acc_b=(a + c) / n if n else NAN,
        diff=(b - c) / n if n else NAN,
        diff_lo=lo,
        diff_hi=hi,
        a_only=b,
        b_only=c,
        p_value=mcnemar_exact(b, c),
    )


PAIR_KEYS = ["dataset", "extractor", "channel", "csi", "snr_db", "cbr", "seed"]


def _select(outcomes: pd.DataFrame, system: str) -> pd.DataFrame:
    """Rows of ``system``, or of ``name@mcs`` (e.g. ``hevc+ldpc@10``)."""
    name, _, mcs = system.partition("@")
    sel = outcomes[outcomes["system"] == name]
    if mcs:
        sel = sel[sel["mcs"] == int(mcs)]
    if sel.empty:
        known = sorted(set(outcomes["system"]))
        raise ConfigError(
            f"no outcomes for system {system!r}; known: {', '.join(known)} (use NAME@MCS for an MCS)"
        )
    return sel


def compare_systems(
    outcomes: pd.DataFrame, system_a: str, system_b: str, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per shared cell (and MCS): accuracies, difference with Newcombe interval, McNemar p-value.

    Images are matched by ``image_id``; only cells both systems ran are compared.
    """
    sa, sb = _select(outcomes, system_a), _select(outcomes, system_b)
    rows = []
    for key, ga in sa.groupby(PAIR_KEYS + ["mcs"], dropna=False, sort=True):
        kdict = dict(zip(PAIR_KEYS + ["mcs"], key, strict=True))
        mask = np.ones(len(sb), dtype=bool)
        for k in PAIR_KEYS:
            mask &= (sb[k] == kdict[k]).to_numpy()
        gb_all = sb[mask]
        for mcs_b, gb in gb_all.groupby("mcs", dropna=False, sort=True):
            m = ga[["image_id", "correct_top1"]].merge(
                gb[["image_id", "correct_top1"]], on="image_id", suffixes=("_a", "_b")
            )
            if m.empty:
                continue
            r = paired_test(m["correct_top1_a"].to_numpy(), m["correct_top1_b"].to_numpy(), confidence)
            rows.append(
                {**{k: kdict[k] for k in PAIR_KEYS}, "mcs_a": kdict["mcs"], "mcs_b": mcs_b, **asdict(r)}
            )
    return pd.DataFrame(rows)
