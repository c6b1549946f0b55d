"""KBSC codec, SNR-conditioned variant and no-codec reference: power, pairing, gradients through the
bridge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.semantic import CODECS, KBSCCodec, KBSCSNRCodec, NoCodec, normalize_power
from kbsc.semantic.channel import open_bridge
from kbsc.semantic.codec import complex_to_reals, reals_to_complex

torch.set_num_threads(1)


def _features(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 512, generator=g)
    return f / f.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("variant", ["kbsc", "kbsc-snr"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_unit_power_per_image(variant: str, mode: str) -> None:
    torch.manual_seed(0)
    codec = CODECS.get(variant)(24)
    codec.train(mode == "train")
    x = codec.encode(_features(32), torch.full((32,), 3.0))
    assert x.dtype == torch.complex64 and x.shape == (32, 24)
    power = (x.abs() ** 2).mean(dim=1)
    torch.testing.assert_close(power, torch.ones(32), atol=1e-5, rtol=0)


def test_batch_power_norm_is_the_authors_per_batch_constraint() -> None:
    x = torch.complex(torch.randn(8, 10), torch.randn(8, 10)) * torch.linspace(0.2, 3, 8)[:, None]
    xb = normalize_power(x, "batch")
    assert abs(float((xb.abs() ** 2).mean()) - 1.0) < 1e-5
    per_image = (xb.abs() ** 2).mean(dim=1)
    assert float(per_image.max() - per_image.min()) > 1.0  # individual images are not normalized
    with pytest.raises(ConfigError, match="power_norm"):
        KBSCCodec(8, power_norm="frame")


def test_symbols_of_one_image_come_from_that_image_only() -> None:
    torch.manual_seed(1)
    codec = KBSCCodec(16).eval()
    f = _features(4)
    x = codec.encode(f)
    f2 = f.clone()
    f2[0] = _features(1, seed=9)[0]
    x2 = codec.encode(f2)
    assert not torch.allclose(x[0], x2[0])
    torch.testing.assert_close(x[1:], x2[1:])
    z = torch.randn(3, 10)
    c = reals_to_complex(z)
    assert torch.equal(c.real, z[:, 0::2]) and torch.equal(c.imag, z[:, 1::2])
    assert torch.equal(complex_to_reals(c), z)


def test_architecture_matches_the_paper() -> None:
    codec = KBSCCodec(128)  # C = 256 reals
    shapes = [tuple(p.shape) for p in codec.parameters()]
    assert (384, 512) in shapes and (256, 384) in shapes and (384, 256) in shapes and (512, 384) in shapes
    n = sum(p.numel() for p in codec.parameters())
    assert 0.55e6 < n < 0.62e6  # "about 0.59 M parameters at C=256"


def test_snr_codec_uses_the_snr_and_the_noise_variance() -> None:
    torch.manual_seed(0)
    codec = KBSCSNRCodec(8).eval()
    for p in codec.enc_film.net[2].parameters():  # FiLM starts as identity; perturb it
        torch.nn.init.normal_(p, std=0.5)
    f = _features(2)
    assert not torch.allclose(
        codec.encode(f, torch.tensor([-5.0, -5.0])), codec.encode(f, torch.tensor([9.0, 9.0]))
    )
    y = codec.encode(f, torch.zeros(2))
    a = codec.decode(y, torch.zeros(2), torch.full((2, 8), 0.1))
    b = codec.decode(y, torch.zeros(2), torch.full((2, 8), 1.0))
    assert not torch.allclose(a, b)
    with pytest.raises(ConfigError, match="noise variance"):
        codec.decode(y, torch.zeros(2), None)


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_gradients_reach_the_encoder_through_the_bridge(channel: str) -> None:
    try:
        bridge = open_bridge(channel, "perfect", seed=3)
    except ConfigError:
        pytest.skip(f"bridge channel {channel} not available")
    torch.manual_seed(0)
    codec = KBSCCodec(20).train()
    f = _features(16)
    x = codec.encode(f)
    out = bridge.transmit(x, torch.arange(16, dtype=torch.int64), 5.0)
    loss = torch.nn.functional.mse_loss(codec.decode(out.y), f)
    loss.backward()
    assert codec.enc1.weight.grad is not None and float(codec.enc1.weight.grad.abs().sum()) > 0
    assert float(codec.enc2.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("k", [100, 256, 600])
def test_no_codec_reference(k: int) -> None:
    codec = NoCodec(k)
    assert not codec.trainable and not list(codec.parameters())
    f = _features(6)
    x = codec.encode(f)
    assert x.shape == (6, k)
    torch.testing.assert_close((x.abs() ** 2).mean(dim=1), torch.ones(6), atol=1e-5, rtol=0)
    f_hat = codec.decode(x)
    if k == 256:
        torch.testing.assert_close(f_hat, f, atol=1e-6, rtol=0)
    elif k > 256:  # every value arrives (repeated); same direction up to a per-image power factor
        cos = torch.nn.functional.cosine_similarity(f_hat, f)
        torch.testing.assert_close(cos, torch.ones(6), atol=1e-5, rtol=0)
    else:  # the first 2k values survive, the rest are zero-filled; same direction up to a per-image scale
        assert torch.all(f_hat[:, 2 * k :] == 0)
        cos = torch.nn.functional.cosine_similarity(f_hat[:, : 2 * k], f[:, : 2 * k])
        torch.testing.assert_close(cos, torch.ones(6), atol=1e-5, rtol=0)


def test_no_codec_repetition_combining_lowers_the_error() -> None:
    g = torch.Generator().manual_seed(0)
    f = _features(200)
    errs = {}
    for k in (256, 1024):
        codec = NoCodec(k)
        x = codec.encode(f)
        nv = torch.full(x.shape, 0.5)
        noise = torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)) * 0.5
        errs[k] = float(((codec.decode(x + noise, None, nv) - f) ** 2).mean())
    assert errs[1024] < 0.35 * errs[256]  # 4 copies: error variance ÷ 4


def test_bad_k_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="channel use"):
        KBSCCodec(0)
    assert np.isfinite(KBSCCodec(1).encode(_features(2)).detach().abs().numpy()).all()
