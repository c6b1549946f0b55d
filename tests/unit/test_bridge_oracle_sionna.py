"""The bridge's hand-written PHY against the Sionna 2.x block that does the same, on the same inputs.

Each test feeds one input to both and states the tolerance the bridge reaches (float32 arithmetic in a
different order). Where the bridge differs on purpose the test pins the difference
(docs/results/validation.md, "The bridge and Sionna"):

* ls-linear holds the estimate outside the pilot span (OFDM symbols before the first and after the last pilot
  symbol) where Sionna's LinearInterpolator extrapolates the line of the two nearest pilot symbols;
* the ls-linear error variance is N0·Σw² of the interpolation weights (the variance of the interpolated LS
  noise), where Sionna reports N0 everywhere;
* lmmse is a 2-D Wiener filter over all pilots of a slot with the exact model covariance, where Sionna's
  LMMSEChannelEstimator filters separably (frequency, then time): on the same slots the bridge's mean
  squared error is never larger.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.bridge import Bridge, GridConfig
from kbsc.bridge.estimation import lmmse_equalize
from kbsc.bridge.modulation import demap_llr, map_bits, qam_demapper, qam_mapper
from kbsc.bridge.streams import unit_noise

sionna_ofdm = pytest.importorskip("sionna.phy.ofdm")
from sionna.phy.mimo import StreamManagement  # noqa: E402

T, F, SCS = 14, 24, 30e3
GUARDS, DC = (2, 1), True
PILOT_SYMBOLS = (2, 11)


def both_grids(guards=GUARDS, dc=DC, pilots=PILOT_SYMBOLS):
    cfg = GridConfig(
        num_ofdm_symbols=T,
        num_subcarriers=F,
        subcarrier_spacing=SCS,
        num_guard_carriers=guards,
        dc_null=dc,
        pilot_ofdm_symbols=pilots,
        cyclic_prefix_length=2,
    )
    srg = sionna_ofdm.ResourceGrid(
        num_ofdm_symbols=T,
        fft_size=F,
        subcarrier_spacing=SCS,
        num_guard_carriers=guards,
        dc_null=dc,
        pilot_pattern="kronecker",
        pilot_ofdm_symbol_indices=list(pilots),
        cyclic_prefix_length=2,
    )
    return cfg.build(), srg


def effective_index(rg) -> np.ndarray:
    """Position of each subcarrier among the usable (effective) ones, -1 for guards/DC."""
    out = -np.ones(rg.num_subcarriers, dtype=np.int64)
    out[rg.usable_subcarriers] = np.arange(rg.usable_subcarriers.sum())
    return out


# -------------------------------------------------------------------------------------- grid and mapping
@pytest.mark.parametrize("guards, dc, pilots", [((2, 1), True, (2, 11)), ((0, 0), False, (0, 7, 13))])
def test_grid_and_pilot_positions_match_resource_grid(guards, dc, pilots):
    rg, srg = both_grids(guards, dc, pilots)
    types = srg.build_type_grid()[0, 0].cpu().numpy()  # 0 data, 1 pilot, 2 guard, 3 DC
    assert np.array_equal(types == 0, rg.data_mask)
    assert np.array_equal(types == 1, rg.pilot_mask)
    assert np.array_equal((types == 2) | (types == 3), ~rg.usable_subcarriers[None, :].repeat(T, 0))
    assert rg.data_res_per_slot == srg.num_data_symbols
    assert rg.pilot_res_per_slot == srg.num_pilot_symbols
    from sionna.phy.channel import subcarrier_frequencies

    assert np.allclose(rg.subcarrier_frequencies, subcarrier_frequencies(F, SCS).cpu().numpy())
    assert np.allclose(np.diff(rg.symbol_times), srg.ofdm_symbol_duration, rtol=1e-12)


def test_data_order_matches_resource_grid_mapper():
    rg, srg = both_grids()
    d = rg.data_res_per_slot
    x = torch.arange(1, d + 1, dtype=torch.float32).to(torch.complex64).reshape(1, 1, 1, d)
    grid = sionna_ofdm.ResourceGridMapper(srg)(x)[0, 0, 0].cpu().numpy()  # [T, F]
    got = grid[rg.data_positions[:, 0], rg.data_positions[:, 1]]
    assert np.array_equal(got.real, np.arange(1, d + 1))  # symbol i sits at data_positions[i]


# ------------------------------------------------------------------------------------ shared slot inputs
def slot_inputs(channel="tdl-a", batch=4, snr_db=10.0, seed=3, **opts):
    """One batch of slots through the bridge's channel and noise, with Sionna's own pilots on the pilot REs:
    the received grid y [B, T, F], h, N0 and the bridge-side LS estimates at the pilots."""
    rg, srg = both_grids()
    bridge = Bridge(channel, seed=seed, grid=rg.config, **opts)
    h, _ = bridge.realize_numpy(np.arange(batch), 1)
    h = h[:, 0]  # [B, T, F]
    no = 10 ** (-snr_db / 10)
    n = np.stack([unit_noise(seed, i, 0, rg.shape) for i in range(batch)])
    gen = np.random.default_rng(seed)
    x = np.zeros((batch, T, F), dtype=np.complex64)
    qpsk = (1 - 2 * gen.integers(0, 2, (batch, rg.data_res_per_slot, 2))) / np.sqrt(2)
    x[:, rg.data_positions[:, 0], rg.data_positions[:, 1]] = qpsk[..., 0] + 1j * qpsk[..., 1]
    p_grid = sionna_ofdm.ResourceGridMapper(srg)(
        torch.zeros(1, 1, 1, rg.data_res_per_slot, dtype=torch.complex64)
    )
    p_grid = p_grid[0, 0, 0].cpu().numpy()
    x = x + p_grid[None]
    y = (h * x + np.sqrt(no) * n).astype(np.complex64)
    pil = rg.pilot_positions
    p = p_grid[pil[:, 0], pil[:, 1]]
    h_ls = y[:, pil[:, 0], pil[:, 1]] * p.conj() / np.abs(p) ** 2  # [B, P]
    return rg, srg, bridge, h, y, no, h_ls


def sionna_y(y):
    return torch.from_numpy(y).reshape(y.shape[0], 1, 1, T, F)


def at_data(rg, h_eff):
    """[B, T, F_eff] over effective subcarriers → [B, D] at the data REs."""
    eff = effective_index(rg)
    d = rg.data_positions
    return h_eff[:, d[:, 0], eff[d[:, 1]]]


def bridge_estimate(bridge, h_ls, no, h):
    b = h_ls.shape[0]
    d = bridge.rg.data_positions
    h_data = torch.from_numpy(h[:, d[:, 0], d[:, 1]]).reshape(b, 1, -1)
    h_hat, err = bridge.estimator.estimate(
        torch.from_numpy(h_ls.astype(np.complex64)).reshape(b, 1, -1),
        torch.full((b,), no, dtype=torch.float32),
        h_data,
    )
    return h_hat[:, 0].numpy(), err.expand(b, 1, -1)[:, 0].numpy()


# ---------------------------------------------------------------------------------------------- estimation
def test_ls_nearest_matches_ls_channel_estimator():
    rg, srg, _, h, y, no, h_ls = slot_inputs()
    est = sionna_ofdm.LSChannelEstimator(srg, interpolation_type="nn")
    s_hat, s_err = est(sionna_y(y), torch.tensor(no))
    s_hat = at_data(rg, s_hat[:, 0, 0, 0, 0].cpu().numpy())
    s_err = at_data(rg, s_err.expand(*s_hat.shape[:1], 1, 1, 1, 1, T, -1)[:, 0, 0, 0, 0].cpu().numpy())
    bridge = Bridge("tdl-a", "ls-nearest", seed=3, grid=rg.config)
    b_hat, b_err = bridge_estimate(bridge, h_ls, no, h)
    assert np.abs(b_hat - s_hat).max() < 2e-6  # measured 3.8e-7
    assert np.allclose(b_err, no, rtol=1e-6) and np.allclose(s_err, no, rtol=1e-5)


def test_ls_linear_matches_inside_the_pilot_span_and_holds_outside():
    rg, srg, _, h, y, no, h_ls = slot_inputs()
    est = sionna_ofdm.LSChannelEstimator(srg, interpolation_type="lin")
    s_hat_t, s_err_t = est(sionna_y(y), torch.tensor(no))
    s_hat = at_data(rg, s_hat_t[:, 0, 0, 0, 0].cpu().numpy())
    bridge = Bridge("tdl-a", "ls-linear", seed=3, grid=rg.config)
    b_hat, b_err = bridge_estimate(bridge, h_ls, no, h)
    sym = rg.data_positions[:, 0]
    inside = (sym > PILOT_SYMBOLS[0]) & (sym < PILOT_SYMBOLS[1])
    assert inside.sum() > 0 and (~inside).sum() > 0
    assert np.abs(b_hat[:, inside] - s_hat[:, inside]).max() < 1e-5
    # outside the span: the bridge holds the nearest pilot symbol's LS estimate, Sionna extrapolates its line
    ls = h_ls.reshape(len(h_ls), len(PILOT_SYMBOLS), -1)  # [B, 2 pilot symbols, usable subcarriers]
    eff = effective_index(rg)[rg.data_positions[:, 1]]
    t0, t1 = PILOT_SYMBOLS
    nearest = np.where(sym <= t0, 0, 1)
    held = ls[:, nearest, eff]
    line = ls[:, 0, eff] + (sym - t0) / (t1 - t0) * (ls[:, 1, eff] - ls[:, 0, eff])
    assert np.abs(b_hat[:, ~inside] - held[:, ~inside]).max() < 1e-5
    assert np.abs(s_hat[:, ~inside] - line[:, ~inside]).max() < 1e-4
    # error variance: the bridge's is N0·Σw² of its weights; Sionna reports N0 on every RE
    w = (sym - t0) / (t1 - t0)
    sum_w2 = np.where(inside, (1 - w) ** 2 + w**2, 1.0)
    assert np.allclose(b_err, no * sum_w2[None], rtol=1e-5)
    s_err = s_err_t.expand(len(h), 1, 1, 1, 1, T, -1)[:, 0, 0, 0, 0].cpu().numpy()
    assert np.allclose(at_data(rg, s_err), no, rtol=1e-5)


@pytest.mark.parametrize("letter", "ACD")
def test_tdl_covariances_match_sionna(letter):
    rg, _ = both_grids(guards=(0, 0), dc=False)
    model = Bridge(f"tdl-{letter.lower()}", grid=rg.config, delay_spread=300e-9, speed=50.0).model
    from sionna.phy.ofdm import tdl_freq_cov_mat, tdl_time_cov_mat

    f_pos = np.stack([np.zeros(F, dtype=np.int64), np.arange(F)], axis=1)
    r_f = model.covariance(f_pos, f_pos)
    s_f = tdl_freq_cov_mat(letter, SCS, F, 300e-9, precision="double").cpu().numpy()
    assert np.abs(r_f - s_f).max() < 1e-9
    t_pos = np.stack([np.arange(T), np.zeros(T, dtype=np.int64)], axis=1)
    r_t = model.covariance(t_pos, t_pos)
    dur = float(np.diff(rg.symbol_times)[0])
    s_t = tdl_time_cov_mat(letter, 50.0, 3.5e9, dur, T, precision="double").cpu().numpy()
    assert np.abs(r_t - s_t).max() < 1e-9


@pytest.mark.parametrize("letter", "ABCDE")
def test_tdl_power_delay_profile_matches_sionna_tdl(letter):
    from sionna.phy.channel.tr38901 import TDL

    ours = Bridge(f"tdl-{letter.lower()}", delay_spread=250e-9).model
    theirs = TDL(letter, delay_spread=250e-9, carrier_frequency=3.5e9)
    delays = theirs.delays.cpu().numpy().reshape(-1)
    powers = theirs.mean_powers.cpu().numpy().reshape(-1)
    if ours.profile.los:  # Sionna merges the specular path and the Rayleigh part of tap 1
        assert np.allclose(delays, ours.delays[1:], rtol=1e-6)
        assert np.allclose(powers, np.r_[ours.powers[0] + ours.powers[1], ours.powers[2:]], rtol=1e-5)
    else:
        assert np.allclose(delays, ours.delays, rtol=1e-6) and np.allclose(powers, ours.powers, rtol=1e-5)


def test_lmmse_2d_is_at_least_as_good_as_sionna_separable():
    """Same slots, same covariances (Sionna's TDL covariance functions, which equal the bridge's): the
    bridge's 2-D Wiener filter vs Sionna's LMMSEChannelEstimator (frequency, then time)."""
    from sionna.phy.ofdm import tdl_freq_cov_mat, tdl_time_cov_mat

    rg, srg, _, h, y, no, h_ls = slot_inputs("tdl-c", batch=48, snr_db=5.0, delay_spread=300e-9, speed=100.0)
    bridge = Bridge("tdl-c", "lmmse", seed=3, grid=rg.config, delay_spread=300e-9, speed=100.0)
    b_hat, b_err = bridge_estimate(bridge, h_ls, no, h)
    usable = int(rg.usable_subcarriers.sum())
    r_f = tdl_freq_cov_mat("C", SCS, usable, 300e-9)
    r_t = tdl_time_cov_mat("C", 100.0, 3.5e9, float(np.diff(rg.symbol_times)[0]), T)
    est = sionna_ofdm.LMMSEChannelEstimator(srg, r_t, r_f, order="f-t")
    s_hat, _ = est(sionna_y(y), torch.tensor(no))
    s_hat = at_data(rg, s_hat[:, 0, 0, 0, 0].cpu().numpy())
    d = rg.data_positions
    h_d = h[:, d[:, 0], d[:, 1]]
    mse_b = np.mean(np.abs(b_hat - h_d) ** 2)
    mse_s = np.mean(np.abs(s_hat - h_d) ** 2)
    assert mse_b <= mse_s * 1.02, (mse_b, mse_s)
    assert mse_b < 0.5 * no  # both interpolate well below the LS noise …
    assert np.abs(b_hat - s_hat).mean() < 0.5 * np.sqrt(no)  # … and agree closely
    assert np.mean(b_err) == pytest.approx(mse_b, rel=0.3)  # the bridge's error variance is calibrated


# -------------------------------------------------------------------------------------------- equalizer
def test_lmmse_equalizer_matches_sionna():
    rg, srg, _, h, y, no, h_ls = slot_inputs(snr_db=8.0)
    est = sionna_ofdm.LSChannelEstimator(srg, interpolation_type="nn")
    s_hat, s_err = est(sionna_y(y), torch.tensor(no))
    eq = sionna_ofdm.LMMSEEqualizer(srg, StreamManagement(np.ones((1, 1)), 1))
    x_s, no_s = eq(sionna_y(y), s_hat, s_err, torch.tensor(no))
    x_s, no_s = x_s[:, 0, 0].cpu().numpy(), no_s[:, 0, 0].cpu().numpy()
    d = rg.data_positions
    r = torch.from_numpy(y[:, d[:, 0], d[:, 1]])
    h_hat = torch.from_numpy(at_data(rg, s_hat[:, 0, 0, 0, 0].cpu().numpy()))
    err = torch.from_numpy(at_data(rg, s_err.expand_as(s_hat.real)[:, 0, 0, 0, 0].cpu().numpy()))
    x_b, var_b = lmmse_equalize(r, h_hat, err, torch.tensor(no, dtype=torch.float32))
    rel = np.abs(x_b.numpy() - x_s) / np.maximum(np.abs(x_s), 1e-3)
    assert np.median(rel) < 1e-6 and rel.max() < 1e-4
    assert np.allclose(var_b.numpy(), no_s, rtol=1e-4)


# --------------------------------------------------------------------------------------- mapper, demapper
@pytest.mark.parametrize("m", [2, 4, 6])
def test_mapper_matches_sionna_mapper(m):
    bits = torch.randint(0, 2, (3, 60 * m), generator=torch.Generator().manual_seed(m))
    ours = map_bits(bits, m)
    theirs = qam_mapper(m)(bits.to(torch.float32))
    assert torch.abs(ours - theirs).max().item() < 1e-6


@pytest.mark.parametrize("m, method", [(2, "app"), (4, "app"), (6, "app"), (4, "maxlog")])
def test_demapper_llrs_match_sionna_demapper(m, method):
    """Both return ln P(b=1|y)/P(b=0|y) (Sionna's sign convention) for y = x + e, e ~ CN(0, no)."""
    gen = torch.Generator().manual_seed(10 + m)
    bits = torch.randint(0, 2, (4, 200 * m), generator=gen)
    x = map_bits(bits, m)
    no = torch.rand((4, 200), generator=gen) * 0.5 + 0.02  # per symbol
    y = (
        x
        + torch.complex(torch.randn(4, 200, generator=gen), torch.randn(4, 200, generator=gen))
        * (no / 2).sqrt()
    )
    ours = demap_llr(y, no, m, method)
    theirs = qam_demapper(m, method)(y, no)
    scale = ours.abs().clamp_min(1.0)
    assert ((ours - theirs).abs() / scale).max().item() < 1e-5  # measured ≤ 2.2e-6
    assert ((ours > 0).to(torch.int64) == bits).float().mean().item() > 0.7  # positive means bit 1
