"""Paired statistics: exact McNemar by hand, Wilson against its closed form, Newcombe interval coverage."""

import math

import numpy as np
import pandas as pd
import pytest

from kbsc.errors import ConfigError
from kbsc.experiments.stats import compare_systems, mcnemar_exact, paired_diff_interval, paired_test, wilson


def test_mcnemar_exact_matches_hand_computation():
    # 10 pairs only A got right, 2 only B: p = 2 * P(X <= 2 | n=12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert mcnemar_exact(2, 10) == pytest.approx(2 * 79 / 4096, rel=1e-12)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0
    # all 6 discordant pairs on one side: 2 / 2**6
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)


def test_wilson_equals_closed_form():
    z = 1.959963984540054
    for k, n in [(0, 10), (3, 10), (37, 50), (500, 1000), (1000, 1000)]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo, hi = wilson(k, n)
        assert lo == pytest.approx(max(centre - half, 0.0), abs=1e-9)
        assert hi == pytest.approx(min(centre + half, 1.0), abs=1e-9)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_paired_test_counts_and_interval():
    a = np.array([1, 1, 1, 1, 0, 0, 1, 0, 1, 1] * 3, dtype=bool)
    b = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 1] * 3, dtype=bool)
    r = paired_test(a, b)
    assert (r.n, r.a_only, r.b_only) == (30, 9, 3)
    assert r.diff == pytest.approx((9 - 3) / 30)
    assert r.diff_lo < r.diff < r.diff_hi
    assert r.p_value == pytest.approx(mcnemar_exact(9, 3))
    # identical vectors: zero difference, p = 1
    same = paired_test(a, a)
    assert same.diff == 0 and same.p_value == 1.0 and same.diff_lo <= 0 <= same.diff_hi


def test_newcombe_interval_covers_the_true_difference():
    """Coverage of the nominal 95 % interval on correlated pairs stays near 95 %."""
    rng = np.random.default_rng(7)
    n, trials = 80, 1500
    probs = np.array([0.55, 0.2, 0.08, 0.17])  # both right, A only, B only, both wrong
    true_diff = probs[1] - probs[2]
    covered = 0
    for _ in range(trials):
        a, b, c, d = rng.multinomial(n, probs)
        lo, hi = paired_diff_interval(a, b, c, d)
        covered += lo <= true_diff <= hi
    assert 0.93 <= covered / trials <= 0.985


def _outcomes(system, correct, mcs=None, snr=0.0):
    n = len(correct)
    return pd.DataFrame(
        {
            "system": system,
            "dataset": "d",
            "extractor": "e",
            "channel": "awgn",
            "csi": "perfect",
            "snr_db": snr,
            "cbr": 0.25,
            "mcs": pd.array([mcs] * n, dtype="Int64"),
            "seed": 0,
            "image_id": np.arange(n),
            "correct_top1": correct,
        }
    )


def test_compare_systems_pairs_by_image_and_cell():
    rng = np.random.default_rng(1)
    ca, cb = rng.random(200) < 0.7, rng.random(200) < 0.5
    df = pd.concat(
        [
            _outcomes("A", ca),
            _outcomes("B", cb, mcs=3),
            _outcomes("B", ~cb, mcs=5),
            _outcomes("A", ca, snr=5.0),  # B did not run this SNR: not compared
        ]
    )
    # shuffle B's rows: pairing must go by image id
    df = df.sample(frac=1.0, random_state=0)
    table = compare_systems(df, "A", "B")
    assert len(table) == 2 and set(table["mcs_b"]) == {3, 5}
    row = table[table["mcs_b"] == 3].iloc[0]
    ref = paired_test(ca, cb)
    assert row["a_only"] == ref.a_only and row["b_only"] == ref.b_only
    assert row["p_value"] == pytest.approx(ref.p_value)
    assert len(compare_systems(df, "A", "B@5")) == 1
    with pytest.raises(ConfigError, match="no outcomes for system 'C'"):
        compare_systems(df, "A", "C")


def test_newcombe_interval_matches_the_published_worked_example():
    """Altman, Machin, Bryant & Gardner, "Statistics with Confidence" (2nd ed., 2000), ch. 6, p. 52: 41 paired
    observations a=14 (both +), b=5, c=0, d=22; Newcombe's method 10 gives 0.0115 to 0.2265. The unadjusted
    phi (no n/2 reduction of ad − bc) gives 0.022 to 0.217 instead, which this test rejects."""
    lo, hi = paired_diff_interval(14, 5, 0, 22)
    assert (round(lo, 4), round(hi, 4)) == (0.0115, 0.2265)


def test_newcombe_phi_is_zero_when_the_adjustment_crosses_zero():
    """Newcombe (1998), method 10: 0 < ad − bc ≤ n/2 makes phi 0, i.e. the two Wilson half-widths add in
    quadrature as for independent samples."""
    a, b, c, d = 2, 3, 4, 7  # ad − bc = 2 ≤ n/2 = 8
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n)
    l2, u2 = wilson(a + c, n)
    lo, hi = paired_diff_interval(a, b, c, d)
    assert lo == pytest.approx(p1 - p2 - math.hypot(p1 - l1, u2 - p2))
    assert hi == pytest.approx(p1 - p2 + math.hypot(u1 - p1, p2 - l2))
