"""Uncoded QPSK/16-QAM BER through the bridge with perfect CSI matches the closed forms (AWGN, Rayleigh)
within the Monte-Carlo intervals (99.9 %, so six fixed-seed points rarely miss by chance);
``kbsc ber`` writes JSON and the figure."""

import json

import numpy as np
import pytest

from kbsc.bridge import Bridge, GridConfig
from kbsc.bridge.ber import clustered_interval, simulate_ber
from kbsc.bridge.theory import ber_qam
from kbsc.cli import main

SMALL = GridConfig(num_subcarriers=12)  # 144 data REs per slot: many independent slots per bit budget


@pytest.mark.parametrize(
    "channel, kind, modulation, m, snr, n_bits",
    [
        ("awgn", "awgn", "qpsk", 2, 0.0, 100_000),
        ("awgn", "awgn", "qpsk", 2, 7.0, 300_000),
        ("awgn", "awgn", "16qam", 4, 10.0, 200_000),
        ("rayleigh", "rayleigh", "qpsk", 2, 5.0, 600_000),
        ("rayleigh", "rayleigh", "16qam", 4, 15.0, 900_000),
        ("tdl-a", "rayleigh", "qpsk", 2, 10.0, 300_000),  # NLoS TDL: every RE is Rayleigh faded
    ],
)
def test_uncoded_ber_matches_closed_form(channel, kind, modulation, m, snr, n_bits):
    bridge = Bridge(channel, "perfect", seed=11, grid=SMALL)
    pt = simulate_ber(bridge, modulation, snr, n_bits, seed=5, batch=256, level=0.999)
    theory = float(ber_qam(kind, snr, m))
    assert pt.errors > 100
    assert pt.ber_lo <= theory <= pt.ber_hi, (pt, theory)
    assert abs(pt.ber - theory) < 0.25 * theory  # the interval is also reasonably tight


def test_ber_with_estimated_csi_is_worse_but_close_at_high_snr():
    bridge_ls = Bridge("rayleigh", "ls-nearest", seed=11, grid=SMALL)
    bridge_mmse = Bridge("rayleigh", "lmmse", seed=11, grid=SMALL)
    perfect = simulate_ber(
        Bridge("rayleigh", "perfect", seed=11, grid=SMALL), "qpsk", 20.0, 200_000, batch=256
    )
    ls = simulate_ber(bridge_ls, "qpsk", 20.0, 200_000, batch=256)
    mmse = simulate_ber(bridge_mmse, "qpsk", 20.0, 200_000, batch=256)
    assert perfect.ber <= mmse.ber <= ls.ber
    assert ls.ber < 2.0 * perfect.ber + 1e-3  # LS at 20 dB costs well under 3 dB on QPSK


def test_clustered_interval_reduces_to_clopper_pearson():
    lo, hi, deff = clustered_interval(np.array([5, 5, 5, 5]), 100)  # no extra-binomial spread
    assert deff == 1.0 and lo < 0.05 < hi
    assert hi - lo == pytest.approx(0.0445, abs=0.003)  # Clopper-Pearson for 20/400
    lo2, hi2, deff2 = clustered_interval(np.array([0, 0, 0, 20]), 100)  # clustered errors
    assert deff2 > 3 and hi2 - lo2 > 2 * (hi - lo)


def test_kbsc_ber_cli(tmp_path, capsys):
    out = tmp_path / "ber.json"
    fig = tmp_path / "ber.png"
    argv = [
        "ber",
        "--channel",
        "awgn",
        "rayleigh",
        "--modulation",
        "qpsk",
        "16qam",
        "--snr",
        "0",
        "10",
        "--bits",
        "5000",
        "--json",
        str(out),
        "--plot",
        str(fig),
    ]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert len(data["points"]) == 2 * 2 * 2
    p = data["points"][0]
    assert {"channel", "csi", "modulation", "snr_db", "bits", "errors", "ber", "ber_lo", "ber_hi"} <= set(p)
    assert p["ber_theory"] == pytest.approx(float(ber_qam("awgn", 0.0, 2)))
    assert fig.exists() and fig.with_suffix(".pdf").exists() and fig.stat().st_size > 10_000
    assert "awgn" in capsys.readouterr().out
