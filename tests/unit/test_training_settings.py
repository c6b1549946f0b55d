"""The one base of training settings (:mod:`kbsc.training.settings`) keeps every key of a trained model: the
committed reference models are found by their config hash, folder name and recipe, and the hashes below were
computed before the stand-in, the KBSC codec and JSCC shared the base."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kbsc.errors import ConfigError
from kbsc.features.standin import StandinConfig, standin_recipe
from kbsc.jscc.train import JSCCTrainConfig
from kbsc.jscc.train import model_dir as jscc_dir
from kbsc.semantic.train import TrainConfig
from kbsc.semantic.train import model_dir as codec_dir
from kbsc.training.settings import TrainSettings
from kbsc.util import read_manifest

MODELS = Path(__file__).resolve().parents[2] / "models"


def _folders(category: str) -> list[Path]:
    return sorted(p for p in (MODELS / category).glob("*") if (p / "manifest.json").is_file())


@pytest.mark.parametrize("folder", _folders("jscc"), ids=lambda p: p.name)
def test_a_committed_jscc_model_keeps_its_hash_folder_name_and_manifest_keys(folder):
    manifest = read_manifest(folder)
    cfg = JSCCTrainConfig.from_dict(manifest["config"])
    assert cfg.resolved() == cfg  # stored resolved: resolving again changes nothing
    assert cfg.as_dict() == manifest["config"]
    assert cfg.hash() == manifest["config_hash"]
    assert jscc_dir(Path("/root"), cfg).name == folder.name
    expected = cfg.expected_manifest({"train_images": manifest["train_images"]})
    assert expected == {k: manifest[k] for k in expected}


@pytest.mark.parametrize("folder", _folders("extractors"), ids=lambda p: p.name)
def test_a_committed_standin_keeps_its_recipe(folder):
    manifest = read_manifest(folder)
    cfg = StandinConfig(**manifest["config"])
    assert cfg.as_dict() == manifest["config"] and manifest["version"] == cfg.FORMAT_VERSION

    class TrainSet:
        fingerprint = manifest["train_fingerprint"]

    assert standin_recipe(TrainSet, manifest["seed"], cfg) == manifest["recipe"]


def test_the_store_has_models_to_check():
    assert len(_folders("jscc")) >= 1 and len(_folders("extractors")) >= 1


# computed at 0ce3f96, before the base: (config, hash, folder name)
CODEC_PINS = [
    (TrainConfig(), "9313c181fa22b886", "kbsc-k128-awgn-perfect-s0-9313c181fa22"),
    (TrainConfig(k=64, channel="rayleigh", setting="paper"), "9664c1858e714d38", None),
    (
        TrainConfig(k=256, csi="ls", lr=1e-3, max_steps=77, contrastive_weight=0.5, grid={"fft_size": 72}),
        "fe12f91956974c24",
        "kbsc-k256-awgn-ls-s0-fe12f9195697",
    ),
    (TrainConfig(threads=4, patience=3), "f0959cd7dc45422b", None),
]
JSCC_PINS = [
    (JSCCTrainConfig(k=64), "db9629fbbbc17bb9", "deepjscc-k64-awgn-perfect-s0-db9629fbbbc1"),
    (
        JSCCTrainConfig(model="swinjscc", setting="reference", model_options={"linear_path": True}),
        "33071479a2aa7a79",
        "swinjscc-kvar-awgn-perfect-s0-33071479a2aa",
    ),
    (
        JSCCTrainConfig(
            k=128, setting="paper", channel="rayleigh", lr=2e-4, schedule="plateau", batch_size=8
        ),
        "5fcbbd1601502bbb",
        "deepjscc-k128-rayleigh-perfect-s0-5fcbbd160150",
    ),
    (JSCCTrainConfig(k=64, setting="tiny", threads=3), "07137a28a6c8fe1e", None),
]


@pytest.mark.parametrize(("cfg", "digest", "name"), CODEC_PINS)
def test_codec_hashes_and_folders_are_those_before_the_base(cfg, digest, name):
    resolved = cfg.resolved()
    assert resolved.hash() == digest
    if name is not None:
        assert codec_dir(Path("/root"), resolved).name == name


@pytest.mark.parametrize(("cfg", "digest", "name"), JSCC_PINS)
def test_jscc_hashes_and_folders_are_those_before_the_base(cfg, digest, name):
    resolved = cfg.resolved()
    assert resolved.hash() == digest
    if name is not None:
        assert jscc_dir(Path("/root"), resolved).name == name


def test_standin_recipes_are_those_before_the_base():
    class TrainSet:
        fingerprint = "75e91006f774024dcc14b884"

    assert standin_recipe(TrainSet, 0, StandinConfig()) == "a164c3ecf4da42ac"
    assert (
        standin_recipe(TrainSet, 0, StandinConfig.from_options(max_steps=40, width=8)) == "4b6758510cd68d2b"
    )
    assert (
        standin_recipe(TrainSet, 0, StandinConfig.from_options(augment="no", lr="0.1")) == "61d841da0d1b059e"
    )


def test_the_thread_count_does_not_enter_a_model_hash():
    assert TrainConfig(threads=4).hash() == TrainConfig().hash()
    assert JSCCTrainConfig(k=8, threads=4).hash() == JSCCTrainConfig(k=8).hash()
    assert StandinConfig(threads=2).as_dict() != StandinConfig().as_dict()  # the stand-in's recipe keeps it


def test_settings_fill_only_unset_budget_fields_and_convert_where_the_trainer_asks():
    jscc = JSCCTrainConfig(k=8, setting="paper", max_steps="500", lr=1).filled()
    assert (jscc.max_steps, jscc.lr, jscc.eval_every, jscc.schedule) == (500, 1.0, 1000, "cosine")
    assert isinstance(jscc.lr, float)
    codec = TrainConfig(setting="paper", lr=1).filled()  # kept as written: existing codec hashes depend on it
    assert codec.lr == 1 and isinstance(codec.lr, int) and codec.max_steps == 40_000
    assert codec.hash() != dataclasses.replace(codec, lr=1.0).hash()


def test_budgets_come_from_the_setting_and_clip_min_steps():
    b = JSCCTrainConfig(k=8, setting="reference").resolved().budget()
    assert (b.max_steps, b.min_steps, b.eval_every, b.patience, b.schedule) == (
        30_000,
        4000,
        500,
        6,
        "plateau",
    )
    b = TrainConfig(max_steps=100, min_steps=150).resolved().budget()
    assert (b.max_steps, b.min_steps, b.plateau_factor) == (100, 100, 0.5)
    b = StandinConfig(max_steps=100, warmup_steps=300).budget()
    assert (b.min_steps, b.warmup_steps, b.lr_floor) == (100, 100, 0.0)


def test_a_stored_config_round_trips_with_tuples_back():
    cfg = TrainConfig(k=32).resolved()
    again = TrainConfig.from_dict({**cfg.as_dict(), "removed_field": 1})
    assert again == cfg and isinstance(again.train_snrs, tuple)
    with pytest.raises(KeyError):
        TrainConfig.from_dict({"k": 32})


def test_options_from_text_are_converted_or_refused_in_one_line():
    assert StandinConfig.from_options(augment="off", width="8").augment is False
    with pytest.raises(ConfigError, match="unknown standin option"):
        StandinConfig.from_options(depth=3)
    with pytest.raises(ConfigError, match="standin option width='wide' is not a int"):
        StandinConfig.from_options(width="wide")


def test_every_trainer_config_uses_the_base():
    for cls in (StandinConfig, TrainConfig, JSCCTrainConfig):
        assert issubclass(cls, TrainSettings) and cls.KIND


def test_a_checkpoint_loads_only_into_its_own_config(tmp_path):
    import torch

    from kbsc.errors import DataError
    from kbsc.jscc.train import build_model, load_model
    from kbsc.training.store import serialize

    cfg = JSCCTrainConfig(k=64, setting="tiny", model_options={"width": 8}).resolved()
    model = build_model(cfg)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.pt").write_bytes(serialize({"config": cfg.as_dict(), "state": model.state_dict()}))
    loaded = load_model(folder, cfg)
    assert not loaded.training
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(DataError, match="JSCC model at .* different configuration"):
        load_model(folder, dataclasses.replace(cfg, seed=1))
    with pytest.raises(DataError, match="no trained JSCC model at .*; run the grid"):
        load_model(tmp_path / "none")
    (folder / "model.pt").write_bytes(serialize({"config": cfg.as_dict(), "state": {}}))
    with pytest.raises(DataError, match="does not hold the JSCC model's weights"):
        load_model(folder)


def _system_config(name, options, ctx_options):
    import numpy as np

    from kbsc.systems.base import Cell, EvalContext, get_system

    ctx = EvalContext(Path("/d"), np.zeros((1, 32, 32, 3), np.uint8), *[None] * 5, options=ctx_options)
    return get_system(name, **options).train_config(
        Cell(name, "d", "e", "awgn", "perfect", 0.0, 1 / 8, 1), ctx
    )


def test_a_systems_training_settings_keep_their_keys():
    """Options, the experiment's training block (where the options are silent) and the cell; the hashes
    were computed at 0ce3f96."""
    training = {"setting": None, "max_steps": 99, "patience": 2, "eval_every": None}
    cfg = _system_config(
        "kbsc-snr", {"max_steps": 50, "train_snrs": [0, 5], "train_seed": 3}, {"training": training}
    )
    assert (cfg.max_steps, cfg.patience, cfg.seed, cfg.train_snrs) == (50, 2, 3, (0.0, 5.0))
    assert dataclasses.replace(cfg, grid={}).hash() == "98cd76b9a43275f1"
    cfg = _system_config("swinjscc", {"cbr_range": [0.05, 0.25], "train_channel": "rayleigh"},
                         {"grid": None, "training": {"max_steps": 10, "eval_every": 5}})  # fmt: skip
    assert (cfg.k, cfg.channel, cfg.max_steps, cfg.eval_every) == (None, "rayleigh", 10, 5)
    assert cfg.hash() == "55957c11c3be39f5"


def test_a_bad_system_option_is_one_line_naming_the_system():
    for options in ({"train_snrs": 5}, {"lr": "x"}):
        with pytest.raises(ConfigError, match="bad option for system 'kbsc'"):
            _system_config("kbsc", options, {})
    with pytest.raises(ConfigError, match="option snr_range must be"):
        _system_config("deepjscc", {"snr_range": [1]}, {})
