"""The reference model store: a verified match is loaded without training (JSCC, stand-in); a tampered file,
other data or another configuration is refused with one line and trained instead; ``--retrain`` trains; the
grid workers get ``--retrain`` through their plan; ``kbsc models verify`` catches a modified file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kbsc.cli import main
from kbsc.jscc import train as jscc_train
from kbsc.jscc.toy import toy_images
from kbsc.jscc.train import JSCCTrainConfig, TrainImages, model_dir, train_model
from kbsc.training import reference
from kbsc.training.reference import file_table, retrain_requested, retraining, write_reference
from kbsc.util import read_manifest, write_manifest

TINY = {"width": 8}


@pytest.fixture(scope="module")
def data():
    images, _ = toy_images(64, seed=5)
    return TrainImages(images, np.arange(64))


def cfg(**kw) -> JSCCTrainConfig:
    base = dict(
        model="deepjscc", k=64, channel="local-awgn", setting="tiny", max_steps=6, eval_every=3, batch_size=8,
        n_val=12, model_options=TINY,
    )  # fmt: skip
    return JSCCTrainConfig(**{**base, **kw})


@pytest.fixture
def store(tmp_path, monkeypatch, data):
    """A store holding one signed tiny JSCC model; returns (store root, the model's folder)."""
    root = tmp_path / "models"
    monkeypatch.setenv("KBSC_MODELS", str(root))
    with retraining(True):
        res = train_model(cfg(), data, root / "jscc", show_progress=False)
    write_reference(res.path, command="kbsc models build test", dataset={"name": "toy", "fingerprint": "x"},
                    code_commit="abc")  # fmt: skip
    return root, res.path


@pytest.fixture
def no_training(monkeypatch):
    """Training raises: what loads must come from a store or cache."""

    def refuse(*a, **k):
        raise AssertionError("trained although a reference model matches")

    monkeypatch.setattr(jscc_train, "_JSCCTraining", refuse)


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_matching_reference_is_loaded_without_training_and_nothing_is_written(
    store, data, tmp_path, no_training
):
    root, folder = store
    before = file_table(folder)
    got = train_model(cfg(), data, tmp_path / "data" / "jscc", show_progress=False)
    assert got.cached and got.path == folder
    assert not (tmp_path / "data").exists()  # nothing in the data directory either
    assert file_table(folder) == before and not (folder / "resume.pt").exists()
    blob = torch.load(folder / "model.pt", weights_only=True)["state"]
    assert all(torch.equal(blob[k], got.model.state_dict()[k]) for k in blob)
    assert got.report.steps == read_manifest(folder)["training"]["steps"]


def test_a_tampered_file_is_refused_and_the_model_trained(store, data, tmp_path, capsys):
    root, folder = store
    raw = bytearray((folder / "model.pt").read_bytes())
    raw[-20] ^= 0xFF
    (folder / "model.pt").write_bytes(bytes(raw))
    got = train_model(cfg(), data, tmp_path / "data", show_progress=False)
    assert not got.cached and got.path == model_dir(tmp_path / "data", cfg().resolved())
    err = capsys.readouterr().err
    assert "is corrupt or modified (sha256 mismatch: model.pt); training it instead" in err


def test_other_data_or_configuration_is_refused_with_what_differs(store, data, tmp_path, capsys):
    root, folder = store
    other = TrainImages(data.images[::-1].copy(), data.ids)
    got = train_model(cfg(), other, tmp_path / "a", show_progress=False)
    assert not got.cached and got.path.parent == tmp_path / "a"
    err = capsys.readouterr().err
    assert f"reference model jscc/{folder.name} was trained on other data (train_images " in err
    assert f"vs {other.fingerprint[:8]}…); training it instead" in err

    m = read_manifest(folder)
    write_manifest(folder, {**m, "config_hash": "0" * 64})  # a manifest is not hashed: its keys are compared
    assert not train_model(cfg(), data, tmp_path / "b", show_progress=False).cached
    assert "was trained with another configuration (config_hash 00000000… vs" in capsys.readouterr().err


def test_retrain_skips_the_store(store, data, tmp_path):
    root, folder = store
    with retraining(True):
        got = train_model(cfg(), data, tmp_path / "data", show_progress=False)
    assert not got.cached and got.path.parent == tmp_path / "data"
    assert not retrain_requested()


def test_no_store_changes_nothing(data, tmp_path, monkeypatch):
    monkeypatch.setenv("KBSC_MODELS", "")
    assert reference.store_root() is None
    first = train_model(cfg(), data, tmp_path, show_progress=False)
    assert not first.cached and first.path.parent == tmp_path


def test_workers_get_retrain_from_their_plan():
    from kbsc.experiments.context import ContextSpec
    from kbsc.experiments.grid import Plan
    from kbsc.experiments.worker import CellWorker

    spec = ContextSpec(dataset="x", extractor="y", n_images=1, data_dir=".")
    try:
        CellWorker(Plan(plugins=[], context=spec, systems={}, retrain=True), threads=None)
        assert retrain_requested()
        CellWorker(Plan(plugins=[], context=spec, systems={}), threads=None)
        assert not retrain_requested()
    finally:
        reference.set_retrain(False)


def test_models_verify_catches_a_modified_file(store, capsys):
    root, folder = store
    assert main(["models", "verify"]) == 0
    main(["models", "list"])
    out = capsys.readouterr().out
    assert f"jscc/{folder.name}" in out and "kbsc-jscc-model" in out and " ok" in out
    header = next(line for line in out.splitlines() if line.startswith("name "))
    assert header.split() == ["name", "kind", "size", "converged", "best", "steps", "options", "verified"]
    with open(folder / "model.pt", "ab") as fh:
        fh.write(b"x")
    assert main(["models", "verify"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"reference model jscc/{folder.name} is corrupt or modified (sha256 mismatch: model.pt)"]


def test_the_standin_is_found_by_its_recipe_and_refused_for_other_data(tmp_path, monkeypatch, capsys):
    from kbsc.data.base import ImageSet
    from kbsc.features import standin

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (80, 32, 32, 3), dtype=np.uint8)
    train = ImageSet(images, np.arange(80) % 4, list("abcd"), "t")
    tiny = {"width": 8, "max_steps": 2, "eval_every": 1, "min_steps": 0, "warmup_steps": 1, "batch_size": 16}
    root = tmp_path / "models"
    monkeypatch.setenv("KBSC_MODELS", str(root))
    with retraining(True):
        made = standin.standin_from_cache(root, train, show_progress=False, **tiny)
    folder = root / "extractors" / made.fingerprint
    dataset = {"name": "t", "fingerprint": train.fingerprint}
    write_reference(folder, command="c", dataset=dataset, code_commit=None)

    def refuse(*a, **k):
        raise AssertionError("trained although a reference stand-in matches")

    with monkeypatch.context() as m:
        m.setattr(standin, "train_standin", refuse)
        got = standin.standin_from_cache(tmp_path / "data", train, show_progress=False, **tiny)
    assert got.fingerprint == made.fingerprint

    other = ImageSet(train.images[::-1].copy(), train.labels[::-1].copy(), list("abcd"), "t2")
    standin.standin_from_cache(tmp_path / "data", other, show_progress=False, **tiny)
    assert f"reference model extractors/{folder.name} was trained on other data" in capsys.readouterr().err


def test_the_committed_store_holds_every_model_the_quick_preset_loads(tmp_path):
    """`make demo` relies on `models/`: a change to quick.yaml, a training setting or a model's options that
    renames a JSCC model (or changes the stand-in's recipe) without rebuilding the store would silently turn
    the 8-minute demo into hours of training. Every model the preset would train must be in the store,
    intact."""
    from types import SimpleNamespace

    from kbsc.experiments.config import load_config
    from kbsc.experiments.grid import context_spec, expand
    from kbsc.experiments.reference_models import _train_configs
    from kbsc.features.standin import StandinConfig
    from kbsc.jscc.system import PixelJSCCSystem
    from kbsc.training.reference import verify_folder

    models = Path(__file__).resolve().parents[2] / "models"
    cfg = load_config("quick")
    spec = context_spec(cfg, str(tmp_path))
    ctx = SimpleNamespace(options=dict(spec.options), source_dim=3072)
    configs = _train_configs(cfg, expand(cfg, spec), ctx, PixelJSCCSystem, None)
    # swinjscc, and deepjscc-adaptive with the block and with the spectral path at two k, on AWGN and Rayleigh
    assert len(configs) == 10
    for c in configs:
        folder = model_dir(models / "jscc", c)
        assert folder.is_dir(), f"quick preset needs {folder.name}: run `kbsc models build quick`"
        assert verify_folder(folder) is None
        assert json.loads((folder / "manifest.json").read_text())["config_hash"] == c.hash()
    standins = [json.loads(p.read_text()) for p in (models / "extractors").glob("*/manifest.json")]
    assert [m["config"] for m in standins] == [dataclasses.asdict(StandinConfig())]
    assert all(verify_folder(p.parent) is None for p in (models / "extractors").glob("*/manifest.json"))


def test_the_committed_store_holds_the_quick_presets_kbsc_csi_codecs(tmp_path):
    """The quick preset's kbsc-csi codecs (8: four k on AWGN and OFDM Rayleigh) are in the store, intact,
    converged and with the configuration hash a run computes: without them the demo trains them (minutes)."""
    from types import SimpleNamespace

    from kbsc.experiments.config import load_config
    from kbsc.experiments.grid import context_spec, expand
    from kbsc.experiments.reference_models import _train_configs
    from kbsc.semantic.system import KBSCCSISystem
    from kbsc.semantic.train import model_dir as codec_dir
    from kbsc.training.reference import verify_folder

    models = Path(__file__).resolve().parents[2] / "models"
    cfg = load_config("quick")
    spec = context_spec(cfg, str(tmp_path))
    ctx = SimpleNamespace(options=dict(spec.options), source_dim=3072)
    configs = _train_configs(cfg, expand(cfg, spec), ctx, KBSCCSISystem, None)
    assert sorted((c.channel, c.k) for c in configs) == [
        (ch, k) for ch in ("awgn", "rayleigh") for k in (128, 384, 768, 1536)
    ]
    for c in configs:
        folder = codec_dir(models / "kbsc", c)
        assert folder.is_dir(), f"quick preset needs {folder.name}: run `kbsc models build quick --codecs`"
        assert verify_folder(folder) is None
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["config_hash"] == c.hash() and manifest["training"]["converged"]
