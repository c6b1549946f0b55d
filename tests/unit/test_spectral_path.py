"""The SoftCast-style spectral linear path: transform, pilot, LMMSE decoding against its formula, fitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.jscc import DeepJSCCAdaptive, SwinJSCC
from kbsc.jscc.base import latent_to_symbols, power_normalize, spread_noise_var, symbols_to_latent
from kbsc.jscc.channel import LocalAWGN
from kbsc.jscc.linear_path import LinearPath, make_linear_path
from kbsc.jscc.metrics import to_tensor
from kbsc.jscc.spectral_path import PILOT, SpectralPath, dct_matrix, waterfill_gains


def _smooth_images(n: int, seed: int) -> np.ndarray:
    """uint8 ``[n, 32, 32, 3]``: low-pass random fields, correlated colours, kept inside (0.15, 0.85)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(32)
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    shape = 1.0 / (radius + 0.05) ** 1.5
    noise = torch.randn(n, 2, 32, 32, generator=g)
    fields = torch.fft.ifft2(torch.fft.fft2(noise) * shape).real
    fields = fields / fields.flatten(1).std(dim=1).mean()
    mix = torch.tensor([[0.8, 0.2], [0.7, -0.3], [0.6, 0.5]])
    img = 0.5 + 0.08 * torch.einsum("cm,bmhw->bhwc", mix, fields)
    return (img.clamp(0.15, 0.85) * 255).round().to(torch.uint8).numpy()


def _through_awgn(path: SpectralPath, x: torch.Tensor, k: int, snr_db: float, seed: int) -> torch.Tensor:
    """Linear path alone: encode, normalise to unit power, AWGN, decode → images ``[B, 3, 32, 32]``."""
    shape = path.latent_shape
    snr = torch.full((len(x),), snr_db)
    s = power_normalize(latent_to_symbols(path.encode(x - 0.5, snr, k), k))
    nv = 10 ** (-snr_db / 10)
    g = torch.Generator().manual_seed(seed)
    noise = torch.complex(torch.randn(s.shape, generator=g), torch.randn(s.shape, generator=g))
    y = s + noise * np.sqrt(nv / 2)
    log_nv = spread_noise_var(torch.full(s.shape, nv), shape)
    return torch.sigmoid(path.decode(symbols_to_latent(y, shape), log_nv, k, snr))


def test_dct_matrix_is_orthonormal_and_row_zero_is_the_mean():
    d = dct_matrix(32).double()
    torch.testing.assert_close(d @ d.T, torch.eye(32, dtype=torch.float64), atol=1e-6, rtol=0)
    row0 = torch.full((32,), 1 / np.sqrt(32), dtype=torch.float64)
    torch.testing.assert_close(d[0], row0, atol=1e-7, rtol=0)


def test_fit_orders_coefficients_by_variance_and_puts_the_pilot_first():
    images = _smooth_images(400, 0)
    p = SpectralPath(48, 8, 32)
    p.fit(images)
    assert torch.all(p.var[:-1] >= p.var[1:])
    assert sorted(p.order.tolist()) == list(range(3072))
    torch.testing.assert_close(p.colour @ p.colour.T, torch.eye(3), atol=1e-5, rtol=0)
    z = p.encode(to_tensor(images[:8]) - 0.5, torch.full((8,), 10.0), 1536).flatten(1)
    assert torch.all(z[:, :PILOT] == z[0, 0]) and z[0, 0] > 0
    # the strongest coefficients carry more energy than the weakest ones, even after power allocation
    assert z[:, PILOT : PILOT + 50].pow(2).mean() > 10 * z[:, -50:].pow(2).mean()
    again = SpectralPath(48, 8, 32)
    again.fit(images)
    assert all(torch.equal(a, b) for a, b in zip(p.buffers(), again.buffers(), strict=True))


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_untrained_path_meets_softcast_lmmse_distortion(snr_db):
    """Alone and untrained, the path is an LMMSE analog code: its MSE matches Σ λ·σ²/(ρ + σ²) over the
    coefficients with ρ = s²g²λ from its own gains and the per-image scale the pilot reports (within 15 %)."""
    train, test = _smooth_images(2000, 1), _smooth_images(300, 2)
    p = SpectralPath(48, 8, 32)
    p.fit(train)
    x = to_tensor(test)
    with torch.no_grad():
        out = _through_awgn(p, x, 1536, snr_db, 3)
        mse = float(((out - x) ** 2).mean())
        g2lam = p._gains(torch.tensor([snr_db]), 1536)[0] ** 2 * p.var[: p.n_sent]
        s2 = 0.5 * (p.n_sent + PILOT) / (g2lam.sum() + PILOT * 8.0)
        nv = 10 ** (-snr_db / 10) / 2
        predicted = float((p.var[: p.n_sent] * nv / (s2 * g2lam + nv)).sum() + p.var[p.n_sent :].sum()) / 3072
    assert mse == pytest.approx(predicted, rel=0.15)
    # and the pixel-domain PSNR rises with the SNR as an analog code's should (≈ 1 dB per dB at high SNR)
    assert -10 * np.log10(mse) > (22.0 if snr_db == 0 else 30.0)


def test_fewer_symbols_send_the_strongest_coefficients_first():
    """A rate-adaptive model keeps the first 2k reals: with k = 192 the path still decodes a low-pass
    image (40 % below the mean's MSE with 44 of 3,072 coefficients), and more symbols decode a better one."""
    train, test = _smooth_images(1000, 4), _smooth_images(100, 5)
    p = SpectralPath(48, 8, 32)
    p.fit(train)
    x = to_tensor(test)
    mean_mse = float(((p.mean - x) ** 2).mean())
    with torch.no_grad():
        mses = [float(((_through_awgn(p, x, k, 20.0, 6) - x) ** 2).mean()) for k in (24, 192, 1536)]
    assert mses[0] < 0.6 * mean_mse and mses[2] < mses[1] < mses[0]


@pytest.mark.parametrize("cls", [DeepJSCCAdaptive, SwinJSCC])
def test_models_fit_the_path_and_save_its_statistics(cls):
    kw = dict(width=8) if cls is DeepJSCCAdaptive else dict(c1=8, c2=16, latent_channels=48, heads=(1, 2))
    torch.manual_seed(0)
    m = cls(k=1536, linear_path="spectral", **kw)
    assert isinstance(m.linear, SpectralPath)
    images = _smooth_images(200, 7)
    m.fit_statistics(images)
    assert not torch.equal(m.linear.var, torch.ones_like(m.linear.var))
    torch.manual_seed(1)
    loaded = cls(k=1536, linear_path="spectral", **kw)
    loaded.load_state_dict(m.state_dict())
    x = to_tensor(images[:4])
    torch.testing.assert_close(loaded.analysis(x, torch.zeros(4), 1536), m.analysis(x, torch.zeros(4), 1536))
    assert torch.isfinite(
        m(x, torch.tensor([-5.0, 0.0, 5.0, 20.0]), 1536, LocalAWGN(0), torch.arange(4))
    ).all()


def test_linear_path_option_names():
    assert isinstance(make_linear_path(True, 12, 8, 32), LinearPath)
    assert isinstance(make_linear_path("block", 12, 8, 32), LinearPath)
    assert make_linear_path(False, 12, 8, 32) is None
    with pytest.raises(ConfigError, match="unknown linear path 'spectal'.*did you mean 'spectral'"):
        make_linear_path("spectal", 12, 8, 32)


def _distortion(power: torch.Tensor, lam: torch.Tensor, sigma2: float) -> torch.Tensor:
    return (lam * sigma2 / (power + sigma2)).sum(-1)


def test_waterfill_gains_are_the_optimal_allocation():
    """Full power, SoftCast's λ^(-1/4) at high SNR, weak coefficients off at low SNR, and no feasible
    perturbation of the allocation lowers the LMMSE distortion."""
    lam = torch.logspace(0, -5, 400, dtype=torch.float64)
    g = waterfill_gains(lam, torch.tensor([-5.0, 5.0, 60.0], dtype=torch.float64))
    power = g**2 * lam
    torch.testing.assert_close(power.sum(1), torch.full((3,), 400.0, dtype=torch.float64))
    soft = lam.pow(-0.25)
    soft = soft / torch.sqrt((soft**2 * lam).mean())
    torch.testing.assert_close(g[2], soft, rtol=1e-3, atol=0)
    off = (power[0] == 0).nonzero().flatten()
    assert len(off) > 100 and off.min() > 0 and torch.all(off == torch.arange(off.min(), 400))
    gen = torch.Generator().manual_seed(0)
    for row, snr_db in ((0, -5.0), (1, 5.0)):
        sigma2 = 10 ** (-snr_db / 10)
        best = _distortion(power[row], lam, sigma2)
        for _ in range(50):
            other = power[row] * torch.exp(
                0.3 * torch.randn(400, generator=gen, dtype=torch.float64)
            ) + 0.01 * torch.rand(400, generator=gen, dtype=torch.float64)
            other = other * 400 / other.sum()
            assert _distortion(other, lam, sigma2) >= best - 1e-9
        assert best < _distortion(soft**2 * lam, lam, sigma2)
