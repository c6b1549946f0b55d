"""Wilson intervals and retrieval accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kbsc.kb import AccuracyResult, accuracy, wilson_interval


def wilson_closed_form(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_known_values():
    lo, hi = wilson_interval(78, 100)
    assert lo == pytest.approx(0.68930, abs=1e-5) and hi == pytest.approx(0.84999, abs=1e-5)
    for k, n in ((0, 10), (3, 7), (4999, 5000), (50, 50)):
        assert wilson_interval(k, n) == pytest.approx(wilson_closed_form(k, n), abs=1e-9)
    assert wilson_interval(0, 20)[0] == 0 and wilson_interval(20, 20)[1] == pytest.approx(1)
    lo99, hi99 = wilson_interval(78, 100, confidence=0.99)
    assert lo99 < lo and hi99 > hi
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_accuracy_counts_minus_one_as_wrong():
    labels = np.array([0, 1, 2, 3, 4])
    retrieved = np.array(
        [
            [0, 9, 9, 9, 9],  # top-1 hit
            [-1, 1, -1, -1, -1],  # top-5 hit only
            [-1, -1, -1, -1, -1],  # nothing received
            [7, 7, 7, 7, 3],  # top-5 hit at rank 5
            [9, 9, 9, 9, 9],
        ]
    )
    res = accuracy(labels, retrieved)
    assert isinstance(res, AccuracyResult)
    assert res.n == 5 and res.top1 == pytest.approx(0.2) and res.top5 == pytest.approx(0.6)
    assert (res.top1_lo, res.top1_hi) == pytest.approx(wilson_interval(1, 5))
    assert (res.top5_lo, res.top5_hi) == pytest.approx(wilson_interval(3, 5))
    # A -1 label never matches, even for a (malformed) true label of -1.
    assert accuracy(np.array([-1]), np.array([[-1]])).top1 == 0
    d = res.as_dict()
    assert set(d) == {"n", "top1", "top1_lo", "top1_hi", "top5", "top5_lo", "top5_hi"}


def test_accuracy_string_and_edge_cases():
    labels = np.arange(1000) % 10
    retrieved = np.stack([labels if i == 0 else (labels + 1) % 10 for i in range(5)], 1)
    retrieved[:216, 0] = -1
    res = accuracy(labels, retrieved)
    lo, hi = wilson_closed_form(784, 1000)
    interval = f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert str(res) == f"top-1 78.4 % {interval}  top-5 78.4 % {interval}  (n=1000)"
    one = accuracy(labels, retrieved[:, :1])  # K=1: top-5 counts what is there
    assert one.top5 == one.top1
    empty = accuracy(np.zeros(0, int), np.zeros((0, 5), int))
    assert empty.n == 0 and math.isnan(empty.top1) and math.isnan(empty.top1_lo)
    with pytest.raises(ValueError, match="N=3"):
        accuracy(np.zeros(3, int), np.zeros((2, 5), int))
