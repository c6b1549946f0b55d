"""Channel models: TR 38.901 TDL tables, E|h|² = 1, Doppler/frequency correlation vs the model's covariance,
the authors' raw channels."""

import numpy as np
import pytest
import torch

from kbsc.bridge import CHANNELS, Bridge, GridConfig, tdl_profile

GRID = GridConfig(num_subcarriers=24)

# (tap number, normalized delay, power dB) typed from 3GPP TR 38.901 V16/V17, Tables 7.7.2-1 … 7.7.2-5
STANDARD = {
    "A": (
        23,
        [(1, 0.0, -13.4), (2, 0.3819, 0.0), (3, 0.4025, -2.2), (10, 1.5375, -15.9), (23, 9.6586, -29.7)],
    ),
    "B": (23, [(1, 0.0, 0.0), (2, 0.1072, -2.2), (6, 0.2986, -1.2), (23, 4.7834, -11.3)]),
    "C": (24, [(1, 0.0, -4.4), (2, 0.2099, -1.2), (6, 0.6366, 0.0), (24, 8.6523, -22.8)]),
    # LoS profiles: row 0 is the specular LoS path, row 1 the Rayleigh part of tap 1 (both at delay 0)
    "D": (14, [(0, 0.0, -0.2), (1, 0.0, -13.5), (2, 0.035, -18.8), (13, 12.525, -27.7)]),
    "E": (15, [(0, 0.0, -0.03), (1, 0.0, -22.03), (2, 0.5133, -15.8), (14, 20.6519, -29.2)]),
}


@pytest.mark.parametrize("letter", "ABCDE")
def test_tdl_tables_match_the_standard(letter):
    rows, entries = STANDARD[letter]
    p = tdl_profile(letter)
    assert len(p.normalized_delays) == len(p.powers_db) == rows
    los = letter in "DE"
    for tap, delay, power in entries:
        row = tap if los else tap - 1
        assert p.normalized_delays[row] == pytest.approx(delay, abs=1e-4)
        assert p.powers_db[row] == pytest.approx(power, abs=1e-6)
    assert p.los is los
    if los:
        assert p.k_factor_db == pytest.approx({"D": 13.3, "E": 22.0}[letter], abs=1e-9)
    # normalized delay profiles have unit RMS delay spread (TR 38.901 §7.7.3 scaling)
    w, t = p.powers, p.normalized_delays
    assert np.sqrt((w * t * t).sum() - (w * t).sum() ** 2) == pytest.approx(1.0, abs=0.01)


def test_tdl_model_uses_the_scaled_table():
    b = Bridge("tdl-c", delay_spread=300e-9, speed=30.0, carrier_frequency=2e9, grid=GRID)
    m = b.model
    assert m.delays[1] == pytest.approx(0.2099 * 300e-9)
    assert m.powers.sum() == pytest.approx(1.0)
    assert m.powers[5] / m.powers[1] == pytest.approx(10 ** (1.2 / 10))
    assert m.doppler == pytest.approx(30.0 * 2e9 / 299_792_458.0)
    assert b.channel_config()["channel_options"]["delay_spread"] == 300e-9


NATIVE = [
    c for c in CHANNELS.names() if CHANNELS.get(c).backend == "native"
]  # Sionna's: test_bridge_sionna_*


@pytest.mark.parametrize("channel", NATIVE)
def test_unit_average_channel_power(channel):
    h, _ = Bridge(channel, seed=0, grid=GRID).realize(np.arange(400), 1)
    p = h.abs().pow(2).mean().item()
    assert p == pytest.approx(1.0, abs=0.1 if channel != "awgn" else 1e-6)


def test_rayleigh_is_block_fading_with_unit_power():
    h, _ = Bridge("rayleigh", seed=0, grid=GRID).realize(np.arange(3000), 2)
    assert torch.equal(h, h[..., :1, :1].expand_as(h))  # one coefficient per slot
    c = h[..., 0, 0].reshape(-1)
    assert c.abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.05)
    assert abs(c.mean().item()) < 0.05
    # Rayleigh: P(|h|² < 0.1) = 1 - e^-0.1
    assert (c.abs().pow(2) < 0.1).float().mean().item() == pytest.approx(1 - np.exp(-0.1), abs=0.015)


@pytest.mark.parametrize("channel", ["tdl-a", "tdl-d"])
def test_tdl_correlation_matches_model_covariance(channel):
    """Empirical E[H(a)H(b)*] over many slots ≈ the covariance the LMMSE estimator uses."""
    b = Bridge(channel, seed=1, grid=GRID, speed=300.0)  # high speed: visible Doppler decorrelation
    h, _ = b.realize(np.arange(1500), 1)
    h = h[:, 0].numpy()
    pairs = np.array([[0, 0], [0, 1], [0, 6], [13, 0], [13, 6], [7, 20]])
    emp = np.array([np.mean(h[:, 0, 0] * np.conj(h[:, t, f])) for t, f in pairs])
    model = b.model.covariance(np.array([[0, 0]]), pairs)[0]
    assert np.abs(emp - model).max() < 0.08
    assert abs(model[3]) < 0.999  # Doppler decorrelates over the slot at 300 m/s


def test_authors_channels_are_raw():
    x = torch.full((4, 50), (1 + 1j) / np.sqrt(2), dtype=torch.complex64)
    ar = Bridge("authors-rayleigh", seed=0, grid=GRID)
    h, n = ar.realize(np.arange(4), 1)
    assert (h.imag == 0).all() and (h.real >= 0).all()  # |h|, no phase
    out = ar.transmit(x, np.arange(4), 10.0)
    assert torch.allclose(out.noise_var, torch.full((4, 50), 0.1))
    idx = torch.from_numpy(ar.rg.data_index[:50])  # first 50 data REs in the fixed order
    hd = h[:, 0].reshape(4, -1)[:, idx]
    nd = n[:, 0].reshape(4, -1)[:, idx]
    assert torch.allclose(out.y, hd * x + np.sqrt(0.1) * nd, atol=1e-6)
    aw = Bridge("authors-awgn", seed=0, grid=GRID).transmit(x, np.arange(4), 10.0)
    assert torch.allclose(aw.y, x + np.sqrt(0.1) * nd, atol=1e-6)
    mag = Bridge("authors-rayleigh", seed=1, grid=GRID).realize(np.arange(200), 1)[0].real
    assert mag.pow(2).mean().item() == pytest.approx(1.0, abs=0.03)  # E|h|² = 1
    assert mag.mean().item() == pytest.approx(np.sqrt(np.pi) / 2, abs=0.02)  # Rayleigh mean
