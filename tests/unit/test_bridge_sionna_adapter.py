"""Sionna channel models through the bridge: keyed realizations (batch shuffle, subsets, a fresh process-wide
generator state), fingerprints, options, E|h|² = 1, the LMMSE covariance and a model brought by a subclass."""

import numpy as np
import pytest
import torch

from kbsc.bridge import CHANNELS, Bridge, GridConfig
from kbsc.bridge.channels.sionna_adapter import SionnaChannel, SionnaTDL, keyed_sionna_rng
from kbsc.errors import ConfigError

GRID = GridConfig(num_subcarriers=24)


@pytest.mark.parametrize("channel", ["cdl-c", "cdl-d", "sionna-tdl-b"])
def test_realization_is_a_pure_function_of_the_key(channel):
    ids = np.arange(10, 18)
    h, n = Bridge(channel, seed=4, grid=GRID).realize_numpy(ids, 2)
    # another bridge, shuffled subset, after unrelated draws from Sionna's process-wide generator
    other = Bridge(channel, seed=4, grid=GRID)
    from sionna.phy import config

    torch.rand(5, generator=config.torch_rng("cpu"))
    perm = np.array([5, 2, 7, 0])
    h2, n2 = other.realize_numpy(ids[perm], 2)
    assert np.array_equal(h2, h[perm]) and np.array_equal(n2, n[perm])
    assert not np.array_equal(h[0, 0], h[1, 0])  # keys differ → realizations differ
    assert not np.array_equal(h[0, 0], h[0, 1])  # slots differ too
    h3, _ = Bridge(channel, seed=5, grid=GRID).realize_numpy(ids[:1], 1)
    assert not np.array_equal(h3[0, 0], h[0, 0])  # the seed matters


@pytest.mark.parametrize("channel", ["umi", "uma", "rma"])
def test_system_level_model_is_keyed_too(channel):
    """UMi/UMa/RMa keep state between topologies inside one Sionna object: the adapter builds one per slot."""
    ids = np.array([3, 9])
    h, _ = Bridge(channel, seed=1, grid=GRID).realize_numpy(ids, 1)
    h2, _ = Bridge(channel, seed=1, grid=GRID).realize_numpy(ids[::-1], 1)
    assert np.array_equal(h2[::-1], h)
    # default normalization of the system-level models: unit mean power per slot
    assert np.mean(np.abs(h) ** 2, axis=(2, 3)) == pytest.approx(1.0, rel=1e-5)


def test_sionna_generator_state_is_restored():
    from sionna.phy import config

    gen = config.torch_rng("cpu")
    before = gen.get_state().clone()
    with keyed_sionna_rng(123):
        torch.rand(3, generator=gen)
    assert torch.equal(gen.get_state(), before)


def test_fingerprint_is_batch_independent_and_follows_options():
    ids = np.arange(6)
    b = Bridge("cdl-b", seed=0, grid=GRID)
    fp = b.fingerprint(ids, 100)
    assert Bridge("cdl-b", seed=0, grid=GRID).fingerprint(ids[::-1], 100) == fp
    assert Bridge("cdl-b", seed=0, grid=GRID, delay_spread=300e-9).fingerprint(ids, 100) != fp
    assert Bridge("cdl-b", seed=0, grid=GRID, speed=30.0).fingerprint(ids, 100) != fp
    assert Bridge("cdl-a", seed=0, grid=GRID).fingerprint(ids, 100) != fp
    opts = b.channel_config()["channel_options"]
    assert opts["delay_spread"] == 100e-9 and opts["normalize"] == "none"


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="delay_spread"):
        Bridge("cdl-a", grid=GRID, delay_spread=-1.0)
    with pytest.raises(ConfigError, match="normalize"):
        Bridge("cdl-a", grid=GRID, normalize="peak")
    with pytest.raises(ConfigError, match="Sionna refused"):
        Bridge("cdl-a", grid=GRID, direction="sideways")


def test_cdl_has_unit_average_power():
    """E|h|² = 1 for a CDL profile (powers normalized by the standard, omni antennas): a z-test on the
    per-slot mean powers of 100 independent keys."""
    h, _ = Bridge("cdl-a", seed=2, grid=GRID).realize_numpy(np.arange(100), 1)
    p = np.mean(np.abs(h.astype(np.complex128)) ** 2, axis=(1, 2, 3))
    se = p.std(ddof=1) / np.sqrt(len(p))
    assert abs(p.mean() - 1.0) < 4 * se, (p.mean(), se)


def test_lmmse_uses_the_calibrated_covariance():
    b = Bridge("cdl-c", "lmmse", seed=0, grid=GRID, covariance_slots=64)
    r = b.model.empirical_covariance
    assert r.shape == (b.rg.res_per_slot,) * 2
    assert np.allclose(r, r.conj().T)
    assert np.mean(np.diag(r).real) == pytest.approx(1.0, abs=0.35)
    h, h_hat, err = b.channel_estimate(np.arange(4), 200, 30.0)
    mse = (h - h_hat).abs().pow(2).mean().item()
    assert mse < 0.05  # at 30 dB the Wiener interpolation is close to the channel


def test_another_sionna_model_is_one_subclass():
    """The README's recipe: a Sionna TDL variant (TDL-A30) registered under a new name."""

    class TDLA30(SionnaTDL):
        name = "test-tdl-a30"

        def build_model(self, **kw):
            return super().build_model(model="A30", **kw)

    try:
        CHANNELS.add("test-tdl-a30", TDLA30)
        b = Bridge("test-tdl-a30", seed=0, grid=GRID, delay_spread=30e-9)
        h, _ = b.realize_numpy([0, 1], 1)
        assert h.shape == (2, 1, *b.rg.shape) and np.all(np.isfinite(h))
        assert isinstance(b.model, SionnaChannel)
    finally:
        CHANNELS._items.pop("test-tdl-a30", None)


def test_channel_speed_report_has_both_sides():
    from kbsc.tools.bridge_bench import channel_speed

    c = channel_speed(slots=2, pairs=(("rayleigh", "cdl-a"),))
    assert c["native"]["rayleigh"] > 0 and c["sionna"]["cdl-a"] > 0
    ratio = c["native_over_sionna"]["rayleigh/cdl-a"]
    assert ratio == pytest.approx(c["native"]["rayleigh"] / c["sionna"]["cdl-a"])


def test_realizations_do_not_depend_on_the_torch_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a, _ = Bridge("cdl-b", seed=1, grid=GRID).realize_numpy(np.arange(4), 1)
        torch.set_num_threads(2)
        b, _ = Bridge("cdl-b", seed=1, grid=GRID).realize_numpy(np.arange(4), 1)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(a, b)
