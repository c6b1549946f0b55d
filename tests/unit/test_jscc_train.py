"""JSCC training: the loss falls, same seed → same checkpoint, resume equals an uninterrupted run, caching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.jscc.toy import toy_images
from kbsc.jscc.train import JSCCTrainConfig, TrainImages, model_dir, step_draws, train_model

TINY = {"deepjscc": {"width": 8}, "swinjscc": {"c1": 8, "c2": 16, "latent_channels": 8, "heads": [1, 2]}}


@pytest.fixture(scope="module")
def data():
    images, _ = toy_images(96, seed=5)
    return TrainImages(images, np.arange(96))


def cfg(model="deepjscc", **kw):
    base = dict(
        model=model,
        k=64,
        channel="local-awgn",
        setting="tiny",
        max_steps=30,
        batch_size=8,
        n_val=16,
        model_options=TINY[model],
    )
    base.update(kw)
    return JSCCTrainConfig(**base)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_lowers_the_loss(data):
    res = train_model(cfg(max_steps=80, lr=3e-3), data, None, show_progress=False)
    first, last = res.history[0]["loss"], res.history[-1]["loss"]
    assert last < 0.7 * first, res.history
    assert res.val_psnr > 12.0 and res.val_psnr == max(h["val_psnr"] for h in res.history)


def test_same_seed_same_checkpoint_other_seed_other(data, tmp_path):
    a = train_model(cfg(), data, tmp_path / "a", show_progress=False)
    b = train_model(cfg(), data, tmp_path / "b", show_progress=False)
    c = train_model(cfg(seed=1), data, tmp_path / "c", show_progress=False)
    assert same_weights(a.model, b.model) and not same_weights(a.model, c.model)
    blob_a = torch.load(a.path / "model.pt", weights_only=True)["state"]
    blob_b = torch.load(b.path / "model.pt", weights_only=True)["state"]
    assert all(torch.equal(blob_a[k], blob_b[k]) for k in blob_a)


@pytest.mark.parametrize("model", ["deepjscc", "swinjscc"])
def test_resume_gives_the_uninterrupted_weights(data, tmp_path, model):
    c = cfg(model, max_steps=24, cbr_range=(1 / 96, 1 / 12))
    full = train_model(c, data, None, show_progress=False)
    part = train_model(c, data, tmp_path, stop_after=13, show_progress=False)
    assert part.steps == 13 and (model_dir(tmp_path, c.resolved()) / "resume.pt").exists()
    done = train_model(c, data, tmp_path, show_progress=False)
    assert done.steps == 24 and not done.cached and same_weights(full.model, done.model)
    assert not (done.path / "resume.pt").exists()


def test_finished_checkpoint_is_reused_only_for_the_same_inputs(data, tmp_path):
    first = train_model(cfg(max_steps=10), data, tmp_path, show_progress=False)
    again = train_model(cfg(max_steps=10), data, tmp_path, show_progress=False)
    assert again.cached and same_weights(first.model, again.model)
    other = TrainImages(data.images[::-1].copy(), data.ids)
    assert not train_model(cfg(max_steps=10), other, tmp_path, show_progress=False).cached


def test_rate_adaptive_training_draws_k_from_the_cbr_range():
    c = cfg("swinjscc", cbr_range=(1 / 96, 1 / 12)).resolved()
    assert c.k is None and c.k_range() == (32, 256)
    ks = [step_draws(c, t, 4)[1] for t in range(200)]
    assert min(ks) >= 32 and max(ks) <= 256 and len(set(ks)) > 50
    snr, _ = step_draws(c, 7, 1000)
    assert snr.min() >= -5 and snr.max() <= 15 and abs(float(snr.mean()) - 5) < 1
    assert step_draws(c, 7, 3)[1] == step_draws(dataclasses.replace(c), 7, 3)[1]


def test_bad_settings_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="unknown JSCC model"):
        cfg(model="deepjscc", k=64).__class__(model="nope").resolved()
    with pytest.raises(ConfigError, match="trained for one k"):
        JSCCTrainConfig(model="deepjscc", k=None).resolved()
    with pytest.raises(ConfigError, match="latent_channels"):
        from kbsc.jscc.train import build_model

        build_model(cfg("swinjscc").resolved())
    with pytest.raises(ConfigError, match="loss"):
        cfg(loss="ssim").resolved()


def test_ms_ssim_loss_matches_the_reported_metric_and_trains(data):
    from kbsc.jscc.losses import ms_ssim_torch
    from kbsc.metrics.image import ms_ssim

    rng = np.random.default_rng(0)
    a = data.images[:6]
    b = np.clip(a.astype(np.int64) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    ta, tb = (torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255 for x in (a, b))
    np.testing.assert_allclose(ms_ssim_torch(ta, tb).numpy(), ms_ssim(a, b), rtol=1e-6, atol=1e-9)
    assert torch.allclose(ms_ssim_torch(ta, ta), torch.ones(6, dtype=torch.float64))

    res = train_model(cfg(max_steps=80, lr=3e-3, loss="ms-ssim"), data, None, show_progress=False)
    first, last = res.history[0]["loss"], res.history[-1]["loss"]
    assert last < 0.8 * first, res.history
