"""Channel estimation error vs SNR (LS, LMMSE), calibration of the effective noise variance, gradients."""

import numpy as np
import pytest
import torch

from kbsc.bridge import CSI_MODES, Bridge, GridConfig

GRID = GridConfig(num_subcarriers=24)
IDS = np.arange(300)
K = GRID.build().data_res_per_slot


def _mse(channel, csi, snr):
    h, h_hat, err = Bridge(channel, csi, seed=4, grid=GRID).channel_estimate(IDS[:150], K, snr)
    return (h - h_hat).abs().pow(2).mean().item(), err.mean().item()


@pytest.mark.parametrize("channel", ["rayleigh", "tdl-a", "tdl-e"])
def test_estimation_error_falls_with_snr_and_lmmse_is_best(channel):
    snrs = [0.0, 10.0, 20.0]
    mse = {csi: [_mse(channel, csi, s)[0] for s in snrs] for csi in ("ls-nearest", "ls-linear", "lmmse")}
    for csi, values in mse.items():
        assert values[0] > values[1] > values[2], (csi, values)
    for i in range(len(snrs)):
        assert mse["lmmse"][i] <= min(mse["ls-nearest"][i], mse["ls-linear"][i]) * 1.02, (i, mse)
    assert _mse(channel, "perfect", 0.0)[0] == 0.0


@pytest.mark.parametrize("channel", ["rayleigh", "tdl-a", "tdl-d"])
def test_lmmse_error_variance_is_calibrated(channel):
    """The LMMSE error variance the estimator reports is the realized mean squared error."""
    for snr in (0.0, 15.0):
        mse, err = _mse(channel, "lmmse", snr)
        assert mse == pytest.approx(err, rel=0.12), (snr, mse, err)


def _unit_qpsk(b, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (2, b, k), generator=g).float()
    return torch.complex(1 - 2 * bits[0], 1 - 2 * bits[1]) / np.sqrt(2)


@pytest.mark.parametrize("csi", ["perfect", "lmmse"])
def test_noise_var_calibrated_on_awgn(csi):
    """y = x + e with Var(e) = noise_var: empirical Var(y - x) ≈ mean noise_var."""
    x = _unit_qpsk(300, K)
    out = Bridge("awgn", csi, seed=2, grid=GRID).transmit(x, IDS, 5.0)
    e = out.y - x
    assert abs(e.mean().item()) < 0.01  # unbiased
    assert e.abs().pow(2).mean().item() == pytest.approx(out.noise_var.mean().item(), rel=0.03)


@pytest.mark.parametrize("channel", ["rayleigh", "tdl-c", "tdl-e"])
@pytest.mark.parametrize("csi", ["perfect", "lmmse"])
def test_noise_var_calibrated_on_fading(channel, csi):
    """Per symbol Var(e) = noise_var, so |y - x|² / noise_var averages to 1 (Var(y - x) itself is
    infinite under Rayleigh fading with ZF-like unbiased equalization) and y is unbiased given the channel."""
    x = _unit_qpsk(300, K, seed=1)
    out = Bridge(channel, csi, seed=3, grid=GRID).transmit(x, IDS, 10.0)
    e = out.y - x
    assert (e.abs().pow(2) / out.noise_var).mean().item() == pytest.approx(1.0, abs=0.04)
    # effective SNR ordering: estimation error only adds noise
    assert (out.y * x.conj()).real.median().item() == pytest.approx(1.0, abs=0.03)


def test_estimation_noise_adds_to_noise_var():
    x = _unit_qpsk(50, K)
    nv = {
        c: Bridge("tdl-a", c, seed=0, grid=GRID).transmit(x, IDS[:50], 5.0).noise_var
        for c in CSI_MODES.names()
    }
    snr_eff = {c: (1 / v).mean().item() for c, v in nv.items()}  # mean post-equalization SNR
    assert snr_eff["perfect"] > snr_eff["lmmse"] > max(snr_eff["ls-linear"], snr_eff["ls-nearest"])


@pytest.mark.parametrize(
    "channel, csi",
    [("awgn", "perfect"), ("tdl-b", "lmmse"), ("rayleigh", "ls-linear"), ("authors-rayleigh", "perfect")],
)
def test_gradients_flow_to_x(channel, csi):
    x = _unit_qpsk(8, 100).requires_grad_(True)
    out = Bridge(channel, csi, seed=0, grid=GRID).transmit(x, np.arange(8), 10.0)
    loss = (out.y - 0.5).abs().pow(2).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # y is linear in x: d y / d x is the per-RE gain (1 with perfect CSI on AWGN)
    if channel == "awgn":
        assert torch.allclose(x.grad, 2 * (out.y - 0.5).detach(), atol=1e-5)


def test_per_image_snr():
    x = _unit_qpsk(2, 500)
    b = Bridge("awgn", "perfect", seed=0, grid=GRID)
    out = b.transmit(x, [0, 1], torch.tensor([0.0, 20.0]))
    assert out.noise_var[0, 0].item() == pytest.approx(1.0) and out.noise_var[1, 0].item() == pytest.approx(
        0.01
    )
    one = b.transmit(x[1:], [1], 20.0)
    assert torch.allclose(one.y, out.y[1:], atol=1e-6)
