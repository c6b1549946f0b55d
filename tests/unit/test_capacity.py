"""The capacity bound: per-RE gains of the image's own REs, and that it bounds every MCS."""

import numpy as np

from kbsc.baselines.capacity import capacity_bits, channel_gains
from kbsc.bridge import Bridge, GridConfig
from kbsc.jscc.toy import toy_context
from kbsc.systems.base import Cell, get_system


def test_awgn_capacity_is_k_log2_1_plus_snr():
    bridge = Bridge("awgn", seed=0)
    cap = capacity_bits(bridge, np.arange(3), 500, 3.0)
    np.testing.assert_allclose(cap, 500 * np.log2(1 + 10**0.3))


def test_gains_follow_the_data_re_order_across_slots():
    grid = GridConfig(num_subcarriers=12)  # 12·12 = 144 data REs per slot: k = 200 spans two slots
    bridge = Bridge("tdl-a", seed=4, grid=grid)
    k = 200
    g = channel_gains(bridge, np.array([7, 9]), k)
    h, _ = bridge.realize_numpy(np.array([7, 9]), 2)
    idx = bridge.rg.data_index
    d = len(idx)
    np.testing.assert_allclose(g[1, :d], np.abs(h[1, 0].reshape(-1)[idx]) ** 2, rtol=1e-6)
    np.testing.assert_allclose(g[1, d:], np.abs(h[1, 1].reshape(-1)[idx[: k - d]]) ** 2, rtol=1e-6)
    assert g.shape == (2, k) and not np.allclose(g[0], g[1])


def test_capacity_bounds_every_mcs_on_same_realizations(tmp_path):
    ctx = toy_context(n=24, data_dir=tmp_path)
    cap = get_system("hevc+capacity")
    ldpc = get_system("hevc+ldpc")
    for snr in (-2.0, 6.0):
        base = dict(system="x", dataset="toy", extractor="pp", channel="rayleigh", csi="perfect", snr_db=snr,
                    cbr=0.25, seed=0)
        out_c = cap.evaluate(Cell(**base), ctx)
        delivered_c = out_c.extras["sent"].astype(bool)
        for mcs in (2, 9, 16):
            out_l = ldpc.evaluate(Cell(**base, mcs=mcs), ctx)
            assert out_l.fingerprint == out_c.fingerprint
            delivered_l = (out_l.extras["tb_error"] == 0) & out_l.extras["sent"].astype(bool)
            assert delivered_c.sum() >= delivered_l.sum()
            assert out_c.correct_top1.sum() >= out_l.correct_top1[delivered_l].sum()
            # per image: the capacity link carries at least the bits the delivered TB carried
            if delivered_l.any():
                more = out_c.extras["bits"][delivered_l] >= out_l.extras["bits"][delivered_l]
                assert more.mean() >= 0.9
