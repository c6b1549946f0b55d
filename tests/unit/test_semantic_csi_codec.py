"""kbsc-csi: the authors' encoder with a decoder that weighs each received symbol by its noise variance.

Shapes and power, the gate starting as the LMMSE bias 1/(1 + σ²), the decoder's dependence on the variance
(a faded symbol stops mattering, as in maximum-ratio combining), a one-line error without the variance, and
a few training steps through a fading bridge: learning, determinism, the system in the registry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.semantic import CODECS, KBSCCodec, TrainConfig, TrainData, train_codec
from kbsc.semantic.channel import open_bridge
from kbsc.semantic.csi_codec import KBSCCSICodec
from kbsc.semantic.train import validation_accuracy
from kbsc.semantic.transmit import transmit

torch.set_num_threads(1)


def _features(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 512, generator=g)
    return f / f.norm(dim=1, keepdim=True)


def test_registered_with_the_authors_encoder_and_shapes() -> None:
    assert CODECS.get("kbsc-csi") is KBSCCSICodec
    torch.manual_seed(0)
    csi, blind = KBSCCSICodec(24).eval(), KBSCCodec(24).eval()
    assert csi.dec1.in_features == 3 * 24 and blind.dec1.in_features == 2 * 24
    for name in ("enc1.weight", "enc2.weight", "enc_bn.weight", "dec2.weight"):  # unchanged parts
        assert csi.state_dict()[name].shape == blind.state_dict()[name].shape
    x = csi.encode(_features(16))
    assert x.dtype == torch.complex64 and x.shape == (16, 24)
    torch.testing.assert_close((x.abs() ** 2).mean(dim=1), torch.ones(16), atol=1e-5, rtol=0)
    out = csi.decode(x, None, torch.full((16, 24), 0.5))
    assert out.shape == (16, 512) and out.dtype == torch.float32


def test_gate_starts_as_the_lmmse_bias() -> None:
    codec = KBSCCSICodec(5)
    nv = torch.tensor([[1e-4, 0.1, 1.0, 10.0, 1e5]])
    expected = (1.0 / (1.0 + nv)).repeat_interleave(2, dim=1)
    torch.testing.assert_close(codec.gate(nv), expected, rtol=1e-5, atol=1e-7)


def test_decoder_output_depends_on_the_noise_variance() -> None:
    torch.manual_seed(1)
    codec = KBSCCSICodec(32).eval()
    y = codec.encode(_features(4))
    a = codec.decode(y, None, torch.full((4, 32), 0.1))
    b = codec.decode(y, None, torch.full((4, 32), 3.0))
    nv = torch.full((4, 32), 0.1)
    nv[:, ::2] = 3.0  # the same mean level, spread differently over the symbols
    c = codec.decode(y, None, nv)
    assert not torch.allclose(a, b, atol=1e-3) and not torch.allclose(a, c, atol=1e-3)


def test_a_faded_symbol_stops_mattering_as_in_mrc() -> None:
    """Symbol 3 arrives through a deep fade (σ² = 10⁶): whatever it carries barely moves the estimate of the
    CSI-aware decoder, while it moves the blind decoder's in proportion."""
    torch.manual_seed(2)
    csi, blind = KBSCCSICodec(16).eval(), KBSCCodec(16).eval()
    y = csi.encode(_features(3))
    nv = torch.full((3, 16), 0.05)
    nv[:, 3] = 1e6
    bad = y.clone()
    bad[:, 3] += 300.0 + 300.0j  # the unbiased equalizer's output on a faded RE: huge noise
    moved_csi = (csi.decode(bad, None, nv) - csi.decode(y, None, nv)).abs().max()
    moved_blind = (blind.decode(bad) - blind.decode(y)).abs().max()
    assert moved_csi < 1e-2 < 1.0 < moved_blind, (float(moved_csi), float(moved_blind))


def test_needs_the_noise_variance() -> None:
    codec = KBSCCSICodec(8).eval()
    y = codec.encode(_features(2))
    with pytest.raises(ConfigError, match="noise variance"):
        codec.decode(y)
    with pytest.raises(ConfigError, match="noise variance"):
        codec.decode(y, None, torch.ones(2, 7))


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % len(centres)
    f = centres[labels] + 1.2 * rng.standard_normal((n, 512)) / np.sqrt(512)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f.astype(np.float32), labels.astype(np.int64)


@pytest.fixture(scope="module")
def data() -> TrainData:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((10, 512))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    fit, _ = _clustered(640, rng, centres)
    vq, vql = _clustered(100, rng, centres)
    kb, kbl = _clustered(100, rng, centres)
    ids = np.arange(640, dtype=np.int64)
    return TrainData(fit, ids, vq, vql, np.arange(640, 740, dtype=np.int64), kb, kbl, extractor="test")


def _cfg(**kw) -> TrainConfig:
    base = dict(
        variant="kbsc-csi",
        k=8,
        channel="rayleigh",
        max_steps=40,
        min_steps=0,
        eval_every=20,
        lr=3e-3,
        patience=3,
        batch_size=64,
        seed=4,
        train_pool=64,
        val_snrs=(0.0,),
    )
    base.update(kw)
    return TrainConfig(**base)


def test_few_training_steps_through_a_fading_bridge_learn_and_are_deterministic(data: TrainData) -> None:
    res = train_codec(_cfg(), data, None, show_progress=False)
    again = train_codec(_cfg(), data, None, show_progress=False)
    assert isinstance(res.codec, KBSCCSICodec)
    for (name, a), b in zip(res.codec.state_dict().items(), again.codec.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert res.report.steps == 40 and [h["step"] for h in res.history] == [20, 40]
    untrained = KBSCCSICodec(8).eval()
    bridge = open_bridge("rayleigh", "perfect", 77)
    before = validation_accuracy(untrained, bridge, data, (0.0,))[0.0]
    assert res.best_val_acc > before + 0.1, (before, res.best_val_acc)
    # the gate parameters are trained with the rest
    assert not torch.equal(res.codec.gate_bias, torch.zeros(16))
    # the send path hands the decoder the bridge's variance: the same y with another variance decodes apart
    f = torch.from_numpy(data.val_features[:8])
    ids = torch.arange(8) + 10_000
    out = bridge.transmit(res.codec.encode(f), ids, 0.0)
    torch.testing.assert_close(
        transmit(res.codec, bridge, f, ids, 0.0), res.codec.decode(out.y, None, out.noise_var)
    )
    assert not torch.allclose(
        res.codec.decode(out.y, None, out.noise_var), res.codec.decode(out.y, None, out.noise_var * 10)
    )


def test_system_is_registered_beside_kbsc() -> None:
    from kbsc.semantic.system import KBSCCSISystem, KBSCSystem
    from kbsc.systems.base import get_system

    system = get_system("kbsc-csi")
    assert isinstance(system, KBSCCSISystem) and system.variant == "kbsc-csi"
    assert get_system("kbsc").variant == "kbsc" and KBSCSystem.variant == "kbsc"


def test_normalized_first_layer_is_mrc_for_a_repetition_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Units whose weights pick the copies of one value compute Σ gᵢyᵢ / mean(gᵢ): the MRC estimate of that
    value (times the number of copies), whatever the gates; a faded copy (gate → 0) drops out."""
    import kbsc.semantic.csi_codec as csi_codec

    monkeypatch.setattr(csi_codec, "NORM_EPS", 0.0)
    weight = torch.zeros(2, 6)
    weight[0, [0, 2, 4]] = 1.0  # value 0 is sent three times, value 1 twice
    weight[1, [1, 3]] = 1.0
    y = torch.tensor([[1.0, -2.0, 1.2, -1.0, 50.0, 7.0]])
    gate = torch.tensor([[0.9, 0.5, 0.6, 0.25, 1e-9, 1.0]])
    out = KBSCCSICodec.normalized(y * gate, gate, weight)
    mrc0 = (0.9 * 1.0 + 0.6 * 1.2 + 1e-9 * 50.0) / (0.9 + 0.6 + 1e-9)
    mrc1 = (0.5 * -2.0 + 0.25 * -1.0) / (0.5 + 0.25)
    torch.testing.assert_close(out, torch.tensor([[3 * mrc0, 2 * mrc1]]), rtol=1e-5, atol=1e-6)
    # the same units with every gate halved: the normalization takes the level out
    torch.testing.assert_close(
        KBSCCSICodec.normalized(y * gate / 2, gate / 2, weight), out, rtol=1e-5, atol=1e-6
    )


def test_a_fresh_decoder_does_not_move_with_the_noise_level() -> None:
    """Side inputs start neutral: on equal variances (AWGN) the untrained decoder's estimate of a clean
    symbol vector keeps its direction from σ² = 0.01 to σ² = 5, so a model selected early in training does
    not carry an SNR-dependent offset to SNRs it was not validated at."""
    torch.manual_seed(3)
    codec = KBSCCSICodec(64).eval()
    x = codec.encode(_features(8))
    with torch.no_grad():
        low, high = (codec.decode(x, None, torch.full((8, 64), v)) for v in (0.01, 5.0))
    cos = torch.nn.functional.cosine_similarity(low, high, dim=1)
    assert float(cos.min()) > 0.98, cos


def test_equal_variances_add_no_offset_through_the_reliability_path() -> None:
    """The reliability input is the pattern of the fading, not its level: however its weights are set, an
    image whose symbols all have the same variance gets nothing from it."""
    torch.manual_seed(4)
    codec = KBSCCSICodec(32).eval()
    x = codec.encode(_features(4))
    nv = torch.full((4, 32), 0.3)
    with torch.no_grad():
        before = codec.decode(x, None, nv)
        codec.dec1.weight[:, 64:] = torch.randn(384, 32)
        after = codec.decode(x, None, nv)
        nv[:, :8] = 30.0
        faded = codec.decode(x, None, nv)
        codec.dec1.weight[:, 64:] = 0.0
        faded_blind = codec.decode(x, None, nv)
    torch.testing.assert_close(before, after)
    assert not torch.allclose(faded, faded_blind, atol=1e-3)
