"""Semantic accuracy of retrieval (top-1, top-5) with Wilson score intervals.

A sender image counts as correct at top-k when one of the first k retrieved knowledge-base labels equals its
class (DESIGN.md §1). A retrieved label of -1 means nothing arrived (e.g. a lost transport block): wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest

__all__ = ["AccuracyResult", "accuracy", "wilson_interval"]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``; ``(nan, nan)`` when ``n == 0``."""
    successes, n = int(successes), int(n)
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n == 0:
        return (math.nan, math.nan)
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


@dataclass(frozen=True)
class AccuracyResult:
    """Top-1 and top-5 accuracy (fractions in [0, 1]) with their 95 % Wilson intervals over ``n`` images."""

    n: int
    top1: float
    top1_lo: float
    top1_hi: float
    top5: float
    top5_lo: float
    top5_hi: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        def pct(x: float) -> str:
            return f"{100 * x:.1f}"

        return (
            f"top-1 {pct(self.top1)} % [{pct(self.top1_lo)}, {pct(self.top1_hi)}]  "
            f"top-5 {pct(self.top5)} % [{pct(self.top5_lo)}, {pct(self.top5_hi)}]  (n={self.n})"
        )


def accuracy(labels: np.ndarray, retrieved: np.ndarray, confidence: float = 0.95) -> AccuracyResult:
    """Semantic accuracy of retrieved knowledge-base labels.

    labels:    int ``[N]`` true class of each sender image
    retrieved: int ``[N, K]`` labels of the K best knowledge-base matches, best first; -1 = nothing received.
               With K < 5, top-5 counts the K available entries.
    """
    labels = np.asarray(labels).reshape(-1)
    retrieved = np.asarray(retrieved)
    if retrieved.ndim == 1:
        retrieved = retrieved[:, None]
    if retrieved.ndim != 2 or retrieved.shape[0] != labels.shape[0]:
        raise ValueError(f"retrieved must be [N, K] with N={labels.shape[0]}, got shape {retrieved.shape}")
    n = int(labels.shape[0])
    if retrieved.shape[1] == 0:
        hit1 = hit5 = np.zeros(n, dtype=bool)
    else:
        valid = retrieved >= 0
        match = (retrieved == labels[:, None]) & valid
        hit1 = match[:, 0]
        hit5 = match[:, :5].any(axis=1)
    k1, k5 = int(hit1.sum()), int(hit5.sum())
    lo1, hi1 = wilson_interval(k1, n, confidence)
    lo5, hi5 = wilson_interval(k5, n, confidence)
    return AccuracyResult(
        n=n,
        top1=k1 / n if n else math.nan,
        top1_lo=lo1,
        top1_hi=hi1,
        top5=k5 / n if n else math.nan,
        top5_lo=lo5,
        top5_hi=hi5,
    )
