"""Pixel JSCC models: power constraint, latent ↔ symbol layout, gradients through the channel, Swin pieces,
rate masking (channel uses counted), size/FLOPs report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.jscc import (
    DeepJSCC,
    DeepJSCCAdaptive,
    SwinJSCC,
    latent_to_symbols,
    power_normalize,
    symbols_to_latent,
)
from kbsc.jscc.channel import LocalAWGN, open_bridge
from kbsc.jscc.cost import model_cost
from kbsc.jscc.evaluate import transmit_images
from kbsc.jscc.swin import PatchExpand, PatchMerging, SwinBlock, shift_mask, window_partition, window_reverse
from kbsc.jscc.system import model_runner
from kbsc.jscc.toy import toy_images

TINY = {
    "deepjscc": dict(width=8),
    "deepjscc-adaptive": dict(width=8),
    "swinjscc": dict(c1=8, c2=16, latent_channels=8, heads=(1, 2)),
}
CLASSES = {"deepjscc": DeepJSCC, "deepjscc-adaptive": DeepJSCCAdaptive, "swinjscc": SwinJSCC}


def tiny(name: str, k: int):
    torch.manual_seed(0)
    return CLASSES[name](k=k, **TINY[name])


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("k", [37, 128])
def test_every_image_has_unit_mean_power(name, k):
    m = tiny(name, k)
    x = torch.rand(5, 3, 32, 32) * torch.linspace(0.1, 1, 5)[:, None, None, None]
    s = m.encode(x, torch.tensor([-5.0, 0, 5, 10, 20]), k)
    assert s.dtype == torch.complex64 and s.shape == (5, k)
    np.testing.assert_allclose((s.abs() ** 2).mean(dim=1).detach().numpy(), 1.0, rtol=1e-5)


def test_power_normalize_scales_rows_independently():
    x = torch.tensor([[1 + 1j, 0j], [3j, 4 + 0j]], dtype=torch.complex64)
    y = power_normalize(x)
    np.testing.assert_allclose((y.abs() ** 2).mean(1).numpy(), [1, 1], rtol=1e-6)
    np.testing.assert_allclose((y[1] / x[1]).abs().numpy(), [np.sqrt(12.5) / 12.5] * 2, rtol=1e-6)


def test_latent_layout_is_channel_major_pairs_and_zero_filled():
    z = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    s = latent_to_symbols(z, 5)
    assert s[0, 0] == complex(0, 1) and s[0, 2] == complex(4, 5) and s[1, 4] == complex(20, 21)
    back = symbols_to_latent(s, (3, 4))
    flat = back.reshape(2, -1)
    assert torch.equal(flat[:, :10], z.reshape(2, -1)[:, :10]) and torch.all(flat[:, 10:] == 0)
    with pytest.raises(ValueError):
        latent_to_symbols(z, 7)


def test_deepjscc_latent_channels_follow_k():
    assert DeepJSCC(k=128, width=8).latent_shape == (4, 64)
    assert DeepJSCC(k=1536, width=8).latent_shape == (48, 64)
    assert DeepJSCC(k=100, width=8).latent_shape == (4, 64)  # 200 of 256 reals sent
    with pytest.raises(ValueError, match="built for k=128"):
        DeepJSCC(k=128, width=8).encode(torch.rand(1, 3, 32, 32), torch.zeros(1), 64)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_gradients_reach_the_encoder_through_the_channel(name):
    m = tiny(name, 64)
    x = torch.rand(4, 3, 32, 32)
    out = m(x, torch.full((4,), 5.0), 64, LocalAWGN(3), torch.arange(4))
    ((out - x) ** 2).mean().backward()
    first = next(p for n, p in m.named_parameters() if n.startswith(("enc", "embed")))
    assert first.grad is not None and float(first.grad.abs().sum()) > 0


def test_gradients_through_the_real_bridge():
    bridge_mod = pytest.importorskip("kbsc.bridge")
    if not hasattr(bridge_mod, "Bridge"):
        pytest.skip("kbsc.bridge.Bridge not available yet")
    m = tiny("deepjscc-adaptive", 64)
    x = torch.rand(2, 3, 32, 32)
    out = m(x, torch.full((2,), 5.0), 64, open_bridge("rayleigh", "ls-linear", 0), torch.arange(2))
    ((out - x) ** 2).mean().backward()
    assert float(m.enc[0].layer.weight.grad.abs().sum()) > 0


def test_adaptive_models_use_the_snr_and_plain_deepjscc_does_not():
    x = torch.rand(2, 3, 32, 32)
    for name, uses in (("deepjscc", False), ("deepjscc-adaptive", True), ("swinjscc", True)):
        m = tiny(name, 64)
        a, b = m.encode(x, torch.zeros(2), 64), m.encode(x, torch.full((2,), 10.0), 64)
        assert (not torch.allclose(a, b)) == uses, name


def test_window_partition_round_trip_and_shift_mask():
    x = torch.randn(2, 8, 8, 5)
    assert torch.equal(window_reverse(window_partition(x, 4), 4, 8, 8), x)
    mask = shift_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window lies inside one region
    assert torch.all(mask.diagonal(dim1=1, dim2=2) == 0) and (mask[3] < 0).sum() > 0


def test_shifted_block_mixes_only_within_windows():
    torch.manual_seed(0)
    blk = SwinBlock(8, (8, 8), heads=2, window=4, shift=0)
    x = torch.randn(1, 64, 8)
    y0 = blk(x)
    x2 = x.clone()
    x2[0, 63] += 1.0  # bottom-right token: another window than the top-left one
    y1 = blk(x2)
    assert torch.allclose(y0[0, :4], y1[0, :4]) and not torch.allclose(y0[0, 63], y1[0, 63])
    shifted = SwinBlock(8, (8, 8), heads=2, window=4, shift=2)
    assert shifted.mask is not None and SwinBlock(8, (4, 4), 2, 4, 2).shift == 0


def test_patch_merging_and_expanding_shapes():
    x = torch.randn(3, 64, 8)
    m = PatchMerging(8, 16, (8, 8))(x)
    assert m.shape == (3, 16, 16)
    assert PatchExpand(16, 8, (4, 4))(m).shape == (3, 64, 8)


class _Recorder:
    def __init__(self):
        self.inner, self.shapes = LocalAWGN(0), []

    def transmit(self, x, ids, snr):
        self.shapes.append(tuple(x.shape))
        return self.inner.transmit(x, ids, snr)

    def fingerprint(self, ids, k):
        return self.inner.fingerprint(ids, k)


def test_rate_adaptive_masking_sends_only_k_symbols():
    m = tiny("swinjscc", None)
    assert m.max_k == 8 * 64 // 2
    images, _ = toy_images(6)
    enc, dec = model_runner(m)
    for k in (16, 100, m.max_k):
        rec = _Recorder()
        tx = transmit_images(enc, dec, rec, images, np.arange(6), 5.0, k, batch=4)
        assert rec.shapes == [(4, k), (2, k)]
        assert tx.channel_uses.tolist() == [k] * 6 and tx.decoded.shape == images.shape
    # the symbols are the first 2k reals of the latent, the rest is never looked at
    x = torch.rand(2, 3, 32, 32)
    z = m.analysis(x, torch.zeros(2), 16)
    assert torch.allclose(m.encode(x, torch.zeros(2), 16), power_normalize(latent_to_symbols(z, 16)))
    with pytest.raises(ValueError, match="outside"):
        m.encode(x, torch.zeros(2), m.max_k + 1)


def test_model_cost_counts_params_and_flops():
    m = tiny("swinjscc", None)
    c = model_cost(m, 64)
    assert c["params"] == sum(p.numel() for p in m.parameters())
    assert c["encoder_flops"] > 2 * 32 * 32 * 3 and c["decoder_flops"] > 0
    d = model_cost(tiny("deepjscc", 64), 64)
    # first conv alone: 16×16 outputs × 4 channels × 75 MACs × 2
    assert d["encoder_flops"] > 16 * 16 * 4 * 75 * 2


def test_info_command_lists_every_model(capsys):
    import argparse

    from kbsc.jscc import commands

    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["jscc", "info", "--cbr", "1/24"])
    assert args.func(args) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["deepjscc", "deepjscc-adaptive", "swinjscc"]
    assert all(r.split()[2] == "128" for r in rows)
    bad = parser.parse_args(["jscc", "info", "--cbr", "x"])
    with pytest.raises(ConfigError, match="CBR must be"):
        bad.func(bad)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_linear_path_is_a_block_linear_code_beside_the_model(name):
    """With the nonlinear head's output silenced, the latent is A·blocks(x − 0.5) + a and the decoder's
    logits are B·z + b: linear in the image, and blocks of 4×4 pixels map to one latent position."""
    torch.manual_seed(0)
    m = CLASSES[name](k=96, linear_path=True, **TINY[name])
    plain = CLASSES[name](k=96, **TINY[name])
    assert set(m.state_dict()) - set(plain.state_dict()) == {
        "linear.enc.weight",
        "linear.enc.bias",
        "linear.dec.weight",
        "linear.dec.bias",
    }
    head = m.enc_out if name != "swinjscc" else m.enc_head[1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    x1, x2 = torch.rand(2, 1, 3, 32, 32)
    lat = [m.analysis(x, torch.zeros(1), 96) for x in (x1, x2, 0.5 * (x1 + x2))]
    torch.testing.assert_close(lat[2], 0.5 * (lat[0] + lat[1]), atol=1e-5, rtol=1e-5)
    # a change inside one 4×4 block moves one latent position only
    x3 = x1.clone()
    x3[..., 4:8, 8:12] += 0.1
    moved = (m.analysis(x3, torch.zeros(1), 96) - lat[0]).abs().amax(dim=1)[0]
    assert moved.nonzero().flatten().tolist() == [1 * 8 + 2]


def _stripes(n: int, g: torch.Generator) -> torch.Tensor:
    """``[n, 3, 32, 32]`` stripes of period 2–4 pixels, random orientation, phase and colours."""
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    angle = torch.rand(n, 1, 1, 1, generator=g) * torch.pi
    period = torch.rand(n, 1, 1, 1, generator=g) * 2 + 2
    phase = torch.rand(n, 1, 1, 1, generator=g) * 2 * torch.pi
    colour = torch.rand(n, 3, 1, 1, generator=g) * 0.4 + 0.3
    t = torch.cos(angle) * xx + torch.sin(angle) * yy
    return (colour + 0.25 * torch.sin(2 * torch.pi * t / period + phase)).clamp(0, 1)


def _fit(model, k: int, steps: int) -> float:
    """Train on fresh stripes every step (20 dB AWGN); PSNR on 32 unseen ones."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    ch = LocalAWGN(0)
    for step in range(steps):
        x = _stripes(16, g)
        loss = ((model(x, torch.full((16,), 20.0), k, ch, torch.arange(16) + 100 * step) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = _stripes(32, g)
    with torch.no_grad():
        mse = ((model(x, torch.full((32,), 20.0), k, ch, torch.arange(32) - 100) - x) ** 2).flatten(1).mean(1)
    return float((-10 * torch.log10(mse)).mean())


def test_linear_path_learns_fine_texture_a_plain_model_misses():
    """Stripes of period 2–4 pixels: the plain DeepJSCC learns the mean colour and little else in a short
    budget; with the linear path the same budget reproduces the texture (why the presets turn it on)."""
    psnr = {}
    for lp in (False, True):
        torch.manual_seed(0)
        psnr[lp] = _fit(DeepJSCC(k=768, width=8, linear_path=lp), 768, 150)
    assert psnr[True] > psnr[False] + 3.0, psnr
