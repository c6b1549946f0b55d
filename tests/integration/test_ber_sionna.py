"""``kbsc ber`` on Sionna's NLoS CDL profiles (A, B, C) with perfect CSI: the uncoded QPSK BER equals the
flat-Rayleigh closed form within its interval (each RE is a sum of many rays, so CN(0, 1)); channel options
given as flags reach the channel and its label."""

import json

import pytest

from kbsc.bridge.theory import ber_qam
from kbsc.cli import main


@pytest.mark.slow
def test_cdl_nlos_ber_matches_rayleigh(tmp_path):
    out = tmp_path / "ber.json"
    argv = ["ber", "--channel", "cdl-a", "cdl-b", "cdl-c", "--modulation", "qpsk", "--snr", "5"]
    argv += ["--bits", "100000", "--speed", "3", "--batch", "32", "--json", str(out)]
    assert main(argv) == 0
    points = json.loads(out.read_text())["points"]
    assert [p["channel"] for p in points] == ["cdl-a[speed=3]", "cdl-b[speed=3]", "cdl-c[speed=3]"]
    theory = float(ber_qam("rayleigh", 5.0, 2))
    for p in points:
        assert p["ber_theory"] == pytest.approx(theory)
        assert p["ber_lo"] <= theory <= p["ber_hi"], p


def test_channel_option_flags(tmp_path, capsys):
    out = tmp_path / "ber.json"
    argv = ["ber", "--channel", "tdl-c", "--modulation", "qpsk", "--snr", "10", "--bits", "2000"]
    argv += ["--delay-spread", "3e-7", "--channel-option", "num_sinusoids=4", "--json", str(out)]
    assert main(argv) == 0
    (p,) = json.loads(out.read_text())["points"]
    assert p["channel"] == "tdl-c[delay_spread=3e-07,num_sinusoids=4]"
    assert "tdl-c[delay_spread=3e-07,num_sinusoids=4]" in capsys.readouterr().out
    assert main(["ber", "--channel", "tdl-c", "--channel-option", "speed", "--bits", "10"]) != 0
