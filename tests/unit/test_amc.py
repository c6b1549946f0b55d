"""Link adaptation (hevc+ldpc-amc): the MIESM mapping, the MCS choice against the committed AWGN thresholds,
the realized BLER at the chosen MCS, and that the receiver uses only its estimate of the channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.baselines.amc import (
    choose_mcs,
    effective_snr_db,
    qam_mutual_information,
    receiver_sinr,
)
from kbsc.baselines.system import DEFAULT_MCS_SET, open_bridge
from kbsc.errors import ConfigError
from kbsc.nrlink.amc_calibration import calibrate_threshold, load_thresholds


@pytest.mark.parametrize("qm", [2, 4, 6])
def test_mutual_information_against_capacity(qm):
    snr_db = np.arange(-15.0, 30.0, 0.5)
    mi = qam_mutual_information(snr_db, qm)
    cap = np.log2(1 + 10 ** (snr_db / 10))
    assert (mi <= cap + 1e-9).all() and (np.diff(mi) >= 0).all()
    assert abs(mi[0] - cap[0]) < 2e-3  # at low SNR every constellation is as good as Gaussian inputs
    assert qam_mutual_information(np.array([39.0]), qm)[0] == pytest.approx(qm, abs=1e-6)


@pytest.mark.parametrize("qm", [2, 4, 6])
def test_effective_snr_of_a_flat_channel_is_the_snr(qm):
    top = {2: 16.0, 4: 23.0, 6: 29.0}[qm]  # below the SNR where I_Qm saturates in double precision
    snr_db = np.linspace(-12.0, top, 23)
    sinr = np.repeat(10 ** (snr_db / 10)[:, None], 50, axis=1)
    np.testing.assert_allclose(effective_snr_db(sinr, qm), snr_db, atol=1e-6)


def test_effective_snr_of_fading_is_below_the_mean_and_above_the_minimum():
    rng = np.random.default_rng(0)
    g = rng.exponential(size=(20, 300)) * 10 ** (8 / 10)  # Rayleigh per RE, mean 8 dB
    for qm in (2, 4, 6):
        eff = 10 ** (effective_snr_db(g, qm) / 10)
        assert (eff < g.mean(axis=1)).all() and (eff > g.min(axis=1)).all()  # I is concave in linear SNR


def test_chosen_mcs_is_monotone_in_snr_on_awgn():
    table = load_thresholds()
    bridge = open_bridge("awgn", "perfect", 0)
    ids = np.arange(3)
    for k in (128, 384, 768, 1536):
        chosen = []
        for snr in np.arange(-6.0, 26.0, 0.5):
            sinr = receiver_sinr(bridge, ids, k, float(snr))
            np.testing.assert_allclose(sinr, 10 ** (snr / 10), rtol=1e-5)  # AWGN, perfect CSI
            m, eff = choose_mcs(sinr, k, list(DEFAULT_MCS_SET), table)
            np.testing.assert_allclose(eff, snr, atol=1e-4)
            assert len(set(m.tolist())) == 1
            chosen.append(int(m[0]))
        assert chosen == sorted(chosen), k
        # a back-off of d dB chooses at SNR s what no back-off chooses at s - d
        m_b, _ = choose_mcs(np.full((1, k), 10 ** (1.0)), k, list(DEFAULT_MCS_SET), table, margin_db=3.0)
        m_0, _ = choose_mcs(np.full((1, k), 10 ** (0.7)), k, list(DEFAULT_MCS_SET), table)
        assert m_b[0] == m_0[0]
        assert chosen[0] == min(DEFAULT_MCS_SET) and chosen[-1] == max(DEFAULT_MCS_SET)


def test_realized_bler_at_the_chosen_mcs_is_near_the_target():
    from kbsc.nrlink.link import NRLink

    table = load_thresholds()
    k, n = 128, 300
    bridge = open_bridge("awgn", "perfect", 7)  # not the calibration's seed: fresh noise and payloads
    ids = np.arange(n)
    rng = np.random.default_rng(1)
    for snr in (1.0, 6.3, 11.1):
        m, _ = choose_mcs(np.full((1, k), 10 ** (snr / 10)), k, list(DEFAULT_MCS_SET), table)
        link = NRLink(k, int(m[0]))
        bits = rng.integers(0, 2, size=(n, link.payload_bits), dtype=np.uint8)
        bler = 1.0 - link.run(bits, bridge, ids, snr).crc_ok.mean()
        # target 10 %: at the threshold itself the BLER is 10 %, above it lower; 300 TBs: sd ≤ 1.8 points
        assert bler <= 0.16, (snr, int(m[0]), bler)


def test_the_receiver_never_reads_the_true_channel(monkeypatch):
    bridge = open_bridge("rayleigh", "ls-linear", 3)
    ids, k, snr = np.arange(4), 768, 5.0
    h, h_hat, err = bridge.channel_estimate(ids, k, snr)
    ref = receiver_sinr(bridge, ids, k, snr)
    no = 10 ** (-snr / 10)
    np.testing.assert_allclose(ref, (h_hat.abs() ** 2 / (no + err)).numpy(), rtol=1e-5)
    true = (h.abs() ** 2 / no).numpy()
    assert np.abs(10 * np.log10(ref / true)).mean() > 0.1  # the estimate is not the channel
    real = bridge.channel_estimate

    def scrambled(*a, **kw):
        h_t, h_e, e = real(*a, **kw)
        return torch.full_like(h_t, complex(float("nan"), float("nan"))), h_e, e

    monkeypatch.setattr(bridge, "channel_estimate", scrambled)
    np.testing.assert_array_equal(receiver_sinr(bridge, ids, k, snr), ref)


def test_threshold_search_finds_the_crossing_of_a_known_curve():
    # a synthetic BLER curve 1 / (1 + exp(2 (snr - 4))) crosses 10 % at 4 + ln(9) / 2 dB
    n = 10_000

    def measure(snr):
        return int(round(n / (1 + np.exp(2 * (snr - 4)))))

    rec = calibrate_threshold(384, 10, 0.1, n_tb=n, measure=measure, resolution_db=0.25)
    assert rec["snr_db"] == pytest.approx(4 + np.log(9) / 2, abs=0.05)
    assert all(e == measure(s) for s, e, _ in rec["points"])


def test_threshold_table_merge_lookup_and_safe_side(tmp_path):
    from kbsc.nrlink.amc_calibration import merge_into

    def rec(k, m, snr):
        return {"k": k, "mcs": m, "mcs_table": 1, "bler_target": 0.1, "tb_size": 8, "snr_db": snr}

    path = tmp_path / "t.json"
    merge_into(path, [rec(128, 4, 3.0), rec(384, 4, 2.0)], {"command": "a"})
    merge_into(path, [rec(384, 4, 1.5), rec(384, 6, 4.0)], {"command": "b"})  # replaces (384, 4)
    t = load_thresholds(path)
    assert t.threshold(384, 4) == 1.5 and t.threshold(128, 4) == 3.0
    assert t.threshold(700, 4) == 1.5  # between calibrated k: the smaller k's (higher) threshold
    assert t.threshold(383, 4) == 3.0
    with pytest.raises(ConfigError, match="calibrate-amc --k 128 --mcs 6"):
        t.threshold(200, 6)
    with pytest.raises(ConfigError, match="k ≥ 128"):
        t.threshold(100, 4)
