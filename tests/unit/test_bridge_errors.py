"""Bad configuration and bad input get one-line ConfigErrors naming the problem."""

import numpy as np
import pytest
import torch

from kbsc.bridge import Bridge, GridConfig, make_bridge
from kbsc.cli import main
from kbsc.errors import ConfigError

GRID = GridConfig(num_subcarriers=12)
X = torch.zeros(2, 10, dtype=torch.complex64)


def _one_line(exc):
    assert "\n" not in str(exc.value)


def test_unknown_channel_csi_equalizer_list_choices():
    with pytest.raises(ConfigError, match="unknown channel model 'tdl-z'.*awgn.*rayleigh.*tdl-a") as e:
        Bridge("tdl-z")
    _one_line(e)
    with pytest.raises(ConfigError, match="unknown CSI mode 'mmse'.*lmmse.*ls-linear.*ls-nearest.*perfect"):
        Bridge("awgn", "mmse")
    with pytest.raises(ConfigError, match="unknown equalizer 'zf'"):
        Bridge("awgn", equalizer="zf")


def test_bad_channel_options():
    with pytest.raises(ConfigError, match="takes no option"):
        Bridge("awgn", speed=3.0)
    with pytest.raises(ConfigError, match="delay_spread"):
        Bridge("tdl-a", delay_spread=-1.0)
    with pytest.raises(ConfigError, match="bad option"):
        Bridge("tdl-a", doppler=3.0)
    with pytest.raises(ConfigError, match="seed"):
        Bridge("awgn", seed=-1)


@pytest.mark.parametrize("snr", [float("nan"), float("inf"), -60.0, 150.0, [0.0, float("nan")]])
def test_bad_snr(snr):
    b = make_bridge("awgn", "perfect", 0, grid=GRID)
    with pytest.raises(ConfigError, match="SNR must be a finite number of dB in") as e:
        b.transmit(X, [0, 1], snr)
    _one_line(e)


def test_bad_x_and_ids():
    b = Bridge("rayleigh", grid=GRID)
    with pytest.raises(ConfigError, match="k = 0"):
        b.transmit(torch.zeros(2, 0, dtype=torch.complex64), [0, 1], 0.0)
    with pytest.raises(ConfigError, match="complex64"):
        b.transmit(torch.zeros(2, 10), [0, 1], 0.0)
    with pytest.raises(ConfigError, match="complex64"):
        b.transmit(torch.zeros(2, 10, dtype=torch.complex128), [0, 1], 0.0)
    with pytest.raises(ConfigError, match=r"\[batch, k\]"):
        b.transmit(torch.zeros(10, dtype=torch.complex64), [0], 0.0)
    with pytest.raises(ConfigError, match="3 image ids for 2 images"):
        b.transmit(X, [0, 1, 2], 0.0)
    with pytest.raises(ConfigError, match="integers"):
        b.transmit(X, np.array([0.5, 1.5]), 0.0)
    with pytest.raises(ConfigError, match="one number or one per image"):
        b.transmit(X, [0, 1], [1.0, 2.0, 3.0])


def test_cli_ber_reports_bad_input(capsys):
    assert main(["ber", "--channel", "nope", "--bits", "10"]) == 2
    assert "unknown channel model 'nope'" in capsys.readouterr().err
    assert main(["ber", "--snr", "nan", "--bits", "10"]) == 2
    assert "SNR must be" in capsys.readouterr().err
    assert main(["ber", "--modulation", "8psk", "--bits", "10"]) == 2
    assert "unknown modulation" in capsys.readouterr().err


def test_lmmse_refuses_huge_pilot_sets():
    with pytest.raises(ConfigError, match="lmmse estimation filters all 4000 pilots"):
        Bridge("tdl-a", "lmmse", grid=GridConfig(num_subcarriers=2000))


def test_empty_batch_is_allowed():
    out = Bridge("rayleigh", "lmmse", grid=GRID).transmit(
        torch.zeros(0, 10, dtype=torch.complex64), np.zeros(0, dtype=np.int64), 5.0
    )
    assert out.y.shape == (0, 10) and out.noise_var.shape == (0, 10)
