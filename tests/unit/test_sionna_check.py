"""Our link adaptation against Sionna's link abstraction (``sionna.sys``), with the bounds the comparison
supports (numbers and reasons in docs/harq.md)."""

from __future__ import annotations

import numpy as np

from kbsc.baselines.amc import DEFAULT_AMC_MCS_SET, receiver_sinr
from kbsc.tools.sionna_check import mcs_agreement, threshold_comparison


def test_awgn_thresholds_near_sionnas_bler_tables():
    """k = 768 (CBR 1/4), MCS 4 … 24: within 1 dB each, within 0.5 dB on average (ours are measured with the
    link's own short LDPC blocks and layered decoder; Sionna's tables are generic per code-block size)."""
    rows = threshold_comparison([768], [m for m in DEFAULT_AMC_MCS_SET if 4 <= m <= 24])
    diff = np.array([r["diff_db"] for r in rows])
    assert np.isfinite(diff).all()
    assert np.abs(diff).max() <= 1.0, rows
    assert abs(diff.mean()) <= 0.5, rows


def test_mcs_choice_agrees_with_sionnas_inner_loop_on_block_fading():
    """One slot of block Rayleigh fading is flat: MIESM and EESM both return the plain SNR, so the choices
    differ only through the thresholds (ours are a little higher: our MCS is lower by at most a step on
    average, and the same for at least half of the images)."""
    from kbsc.bridge.bridge import make_bridge

    sinr = receiver_sinr(make_bridge("rayleigh", "perfect", seed=0), np.arange(100), 768, 4.0)
    got = mcs_agreement(sinr, 768, DEFAULT_AMC_MCS_SET)
    assert abs(got["mean_eff_diff_db"]) < 0.01
    assert got["same_share"] >= 0.5
    assert -2.0 <= got["mean_index_diff"] <= 0.5
