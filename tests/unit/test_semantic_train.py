"""Training through the bridge on a tiny clustered set: learning, determinism, resume, cache, SNR trend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.semantic import TrainConfig, TrainData, build_codec, evaluate_codec, load_codec, train_codec
from kbsc.semantic.channel import open_bridge
from kbsc.semantic.train import validation_accuracy

N_CLASSES = 10


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray, spread: float = 1.2):
    labels = np.arange(n) % N_CLASSES
    f = centres[labels] + spread * rng.standard_normal((n, 512)) / np.sqrt(512)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f.astype(np.float32), labels.astype(np.int64)


@pytest.fixture(scope="module")
def data() -> TrainData:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((N_CLASSES, 512))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    fit, _ = _clustered(1280, rng, centres)
    vq, vql = _clustered(200, rng, centres)
    kb, kbl = _clustered(100, rng, centres)
    return TrainData(
        fit,
        np.arange(1280, dtype=np.int64),
        vq,
        vql,
        np.arange(1280, 1480, dtype=np.int64),
        kb,
        kbl,
        extractor="test",
    )


def _cfg(**kw) -> TrainConfig:
    base = dict(k=4, max_steps=60, min_steps=0, eval_every=20, lr=3e-3, patience=3, batch_size=64, seed=5)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(data: TrainData, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("codecs")
    return root, train_codec(_cfg(), data, root, show_progress=False)


def test_training_lowers_the_loss_and_raises_accuracy(data: TrainData, trained) -> None:
    _, res = trained
    cfg = _cfg().resolved()
    untrained = build_codec(cfg).eval()
    bridge = open_bridge("awgn", "perfect", 99)
    before = np.mean(list(validation_accuracy(untrained, bridge, data, (0.0, 4.0)).values()))
    after = np.mean(list(validation_accuracy(res.codec, bridge, data, (0.0, 4.0)).values()))
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.8 * losses[0]
    assert after > before + 0.2, (before, after)
    assert res.best_val_acc == max(h["val_acc"] for h in res.history)


def test_same_seed_same_checkpoint_and_cache(data: TrainData, trained, tmp_path) -> None:
    root, res = trained
    again = train_codec(_cfg(), data, tmp_path, show_progress=False)
    assert (root / res.path.name / "model.pt").read_bytes() == (
        tmp_path / res.path.name / "model.pt"
    ).read_bytes()
    cached = train_codec(_cfg(), data, root, show_progress=False)
    assert cached.cached and not again.cached
    for a, b in zip(cached.codec.state_dict().values(), res.codec.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    other = train_codec(_cfg(seed=6, max_steps=20), data, None, show_progress=False)
    assert not torch.equal(other.codec.enc1.weight, res.codec.enc1.weight)


def test_changed_training_features_are_not_reused(data: TrainData, trained) -> None:
    root, res = trained
    shifted = TrainData(
        data.fit_features[::-1].copy(),
        data.fit_ids,
        data.val_features,
        data.val_labels,
        data.val_ids,
        data.val_kb_features,
        data.val_kb_labels,
        extractor="test",
    )
    assert shifted.feature_hash != data.feature_hash
    redo = train_codec(_cfg(max_steps=20), shifted, root, show_progress=False)
    assert not redo.cached


def test_resume_after_interruption_matches_uninterrupted(data: TrainData, trained, tmp_path) -> None:
    _, full = trained
    part = train_codec(_cfg(), data, tmp_path, stop_after=30, show_progress=False)
    assert (
        len(part.history) == 1
        and (part.path / "resume.pt").exists()
        and not (part.path / "model.pt").exists()
    )
    done = train_codec(_cfg(), data, tmp_path, show_progress=False)
    assert [h["step"] for h in done.history] == [20, 40, 60] and not (done.path / "resume.pt").exists()
    assert done.report.steps == 60 and done.report.curve == full.report.curve
    for a, b in zip(done.codec.state_dict().values(), full.codec.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert load_codec(done.path).k == 4


def test_accuracy_rises_with_snr(data: TrainData, trained) -> None:
    _, res = trained
    bridge = open_bridge("awgn", "perfect", 0)
    acc = []
    for snr in (-15.0, -5.0, 5.0, 20.0):
        out = evaluate_codec(res.codec, bridge, data.val_features, data.val_ids, _KB(data), snr)
        acc.append(float((out.retrieved[:, 0] == data.val_labels).mean()))
        assert out.retrieved.shape == (200, 5)
    assert acc[0] < acc[1] < acc[2] <= acc[3] + 0.02, acc
    assert acc[0] < 0.5 and acc[3] > 0.8, acc


class _KB:
    def __init__(self, d: TrainData) -> None:
        self.features, self.labels = d.val_kb_features, d.val_kb_labels


def test_contrastive_term_and_snr_variant_train(data: TrainData) -> None:
    res = train_codec(_cfg(max_steps=20, contrastive_weight=0.05), data, None, show_progress=False)
    base = train_codec(_cfg(max_steps=20), data, None, show_progress=False)
    assert res.history[0]["loss"] > base.history[0]["loss"]  # the InfoNCE term is in the objective
    snr = train_codec(_cfg(variant="kbsc-snr", max_steps=20), data, None, show_progress=False)
    assert snr.best_val_acc > 0.3


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"setting": "fast"}, "training setting"),
        ({"variant": "jscc"}, "semantic codec"),
        ({"max_steps": 0}, "max_steps"),
        ({"eval_every": 0}, "eval_every"),
        ({"k": 0}, "k must"),
        ({"contrastive_weight": -1.0}, "contrastive"),
    ],
)
def test_bad_training_config(kw: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        TrainConfig(**kw).resolved()


def test_training_report_is_in_the_manifest(trained) -> None:
    from kbsc.util import read_manifest

    _, res = trained
    stored = read_manifest(res.path)["training"]
    assert stored["metric"] == "val_acc" and stored["steps"] == res.report.steps
    assert [c["step"] for c in stored["curve"]] == [c["step"] for c in res.history]
    assert stored["best"] == max(c["val_acc"] for c in stored["curve"])
    assert isinstance(stored["converged"], bool) and "evaluations" in stored["rule"]
    assert stored["budget"]["max_steps"] == 60 and stored["steps_per_s"] > 0
