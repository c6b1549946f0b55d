"""The code opt-in (docs/design.md §7, docs/security.md): a config that imports modules or runs executables is
refused in one line, by every command that reads a config, BEFORE anything from it is imported or run; and
the list of such keys covers every key of the config schema (a new key fails the walk until reviewed)."""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from kbsc.cli import main
from kbsc.experiments.config import ExperimentConfig
from kbsc.experiments.trust import CODE_KEYS, EXECUTABLE_KEYS, code_entries

BASE = {"n_images": 20, "snr_db": [0], "cbr": ["1/8"], "systems": [{"name": "hevc+ldpc", "mcs": [4]}]}

MARKER_MODULE = """
from pathlib import Path
Path({marker!r}).write_text("imported")
"""


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A module on sys.path and an executable script; each leaves a marker file when its code runs."""
    name = f"evilplug_{os.getpid()}_{id(tmp_path)}"
    marker = tmp_path / "ran"
    (tmp_path / f"{name}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    exe = tmp_path / "fake.sh"
    exe.write_text(f"#!/bin/sh\necho ran >> {marker}\necho 'BPG Image Encoder version 0.9.8'\n")
    exe.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield name, exe, marker
    sys.modules.pop(name, None)


def _one_line_refusal(capsys, code: int, key: str) -> None:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("kbsc: error: ") and key in err[0], err
    assert "--allow-code" in err[0]


def _commands(cfg: str, tmp: Path) -> dict[str, list[str]]:
    data = ["--data-dir", str(tmp / "data")]
    return {
        "run": ["run", cfg, "--out", str(tmp / "out-run"), *data],
        "demo": ["demo", "--config", cfg, "--out", str(tmp / "out-demo"), *data],
        "estimate": ["estimate", cfg],
        "models build": ["models", "build", cfg, *data],
    }


@pytest.mark.parametrize("command", ["run", "demo", "estimate", "models build"])
def test_plugins_are_not_imported_without_the_opt_in(command, hostile, tmp_path, capsys):
    name, _, marker = hostile
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**BASE, "plugins": [name]}))
    _one_line_refusal(capsys, main(_commands(str(cfg), tmp_path)[command]), "plugins")
    assert not marker.exists()
    assert name not in sys.modules
    # the same through --set, on a config that is clean by itself
    clean = tmp_path / "clean.yaml"
    clean.write_text(yaml.safe_dump(BASE))
    argv = _commands(str(clean), tmp_path)[command] + ["--set", f"plugins=[{name}]"]
    if command == "models build":  # takes no --set: a module path in a system's options instead
        plug = [{"name": "plugin", "options": {"module": name}}]
        clean.write_text(yaml.safe_dump({**BASE, "systems": plug}))
        argv = _commands(str(clean), tmp_path)[command]
    _one_line_refusal(capsys, main(argv), "plugins" if command != "models build" else "module")
    assert not marker.exists()
    assert not (tmp_path / "out-run").exists() and not (tmp_path / "out-demo").exists()


@pytest.mark.parametrize("command", ["run", "demo", "estimate"])
def test_codec_executables_do_not_run_without_the_opt_in(command, hostile, tmp_path, capsys):
    _, exe, marker = hostile
    cfg = tmp_path / "c.yaml"
    opts = {"codec": "bpg", "codec_options": {"bpgenc": "./fake.sh", "bpgdec": str(exe)}}
    cfg.write_text(yaml.safe_dump({**BASE, "systems": [{"name": "hevc+ldpc", "options": opts}]}))
    _one_line_refusal(capsys, main(_commands(str(cfg), tmp_path)[command]), "bpgenc")
    assert not marker.exists()


def test_bench_refuses_a_preset_that_names_code(hostile, tmp_path, capsys):
    name, _, marker = hostile
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "quick.yaml").write_text(yaml.safe_dump({**BASE, "plugins": [name]}))
    _one_line_refusal(capsys, main(["bench", "--quick", "--data-dir", str(tmp_path / "data")]), "plugins")
    assert not marker.exists()


def test_standard_executable_names_and_own_modules_need_no_opt_in():
    data = {
        "plugins": ["kbsc.jscc.toy"],
        "systems": [
            {"name": "hevc+ldpc", "options": {"codec_options": {"bpgenc": "bpgenc", "bpgdec": "bpgdec"}}}
        ],
    }
    assert code_entries(data) == []
    bad = {"systems": [{"options": {"codec_options": {"bpgdec": "/tmp/bpgdec"}, "module": "x.py:M"}}]}
    found = sorted(e.key for e in code_entries(bad))
    assert found == ["systems[0].options.codec_options.bpgdec", "systems[0].options.module"]


# ------------------------------------------------------------------------------------------ schema walk

#: every config key reviewed as data (not imported, not executed), with what it is. A key that names code or
#: a program belongs in kbsc.experiments.trust instead. A new key anywhere in the schema fails the walk below
#: until it is added to one of the two.
REVIEWED_DATA_KEYS = {
    # top level and the pydantic sub-models
    "name",
    "dataset",
    "extractor",
    "index",
    "n_images",
    "seeds",
    "snr_db",
    "cbr",
    "channels",
    "csi",
    "grid",
    "training",
    "systems",
    "device",  # torch device name (auto, cpu, cuda:N), parsed, never imported
    "precision",  # fp32 | bf16 | fp16
    "root",  # dataset.root: image files, read with the bounded loaders
    "split_seed",
    "checkpoint",  # extractor/plug-in checkpoint: weights loaded with weights_only / npz
    "options",
    "setting",
    "max_steps",
    "patience",
    "eval_every",
    "label",
    "mcs",
    # conventional systems (hevc+ldpc, amc, best, capacity)
    "codec",
    "codec_options",
    "failure",
    "decoder",
    "num_iter",
    "mcs_table",
    # hevc+ldpc-harq and the outer loop of the AMC systems: numbers and a flag
    "first_fraction",
    "max_transmissions",
    "olla",
    "olla_step_db",
    "mcs_set",
    "early_stop",
    "bler_target",
    "thresholds",
    "margin_db",
    # codecs' options
    "level",
    "preset",
    "chroma",
    # semantic systems
    "batch_size",
    "contrastive_weight",
    "hidden",
    "lr",
    "min_steps",
    "power_norm",
    "temperature",
    "threads",
    "train_pool",
    "train_seed",
    "train_snrs",
    "val_snrs",
    "n_train",
    "nbits_min",
    "nbits_max",
    # learned JSCC systems
    "batch",
    "cbr_range",
    "loss",
    "model_options",
    "n_val",
    "schedule",
    "snr_range",
    "train_channel",
    "train_csi",
    "kwargs",  # plug-in constructor arguments: reach code only through `module`, which needs the opt-in
    "outcomes",  # jscc-import: a path template of .npz files read without pickle
}


def _model_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        ann = field.annotation
        todo = [ann]
        while todo:
            t = todo.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                keys |= _model_keys(t)
            todo.extend(typing.get_args(t))
    return keys


def _all_config_keys() -> set[str]:
    from kbsc.baselines.codecs import IMAGE_CODECS
    from kbsc.features.standin import StandinConfig
    from kbsc.systems.base import SYSTEMS

    keys = _model_keys(ExperimentConfig)
    for name in SYSTEMS.names():
        if not SYSTEMS.get(name).__module__.startswith("kbsc."):
            continue  # a test's own toy system, registered by another test module of the same session
        opts = SYSTEMS.get(name).option_names()
        assert opts is not None, f"system {name!r} does not declare option_names(); the walk cannot see it"
        keys |= opts
    for name in IMAGE_CODECS.names():
        params = inspect.signature(IMAGE_CODECS.get(name).__init__).parameters.values()
        keys |= {p.name for p in params if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}
    keys |= {f.name for f in dataclasses.fields(StandinConfig)}
    return keys


def test_every_config_key_is_covered_by_the_code_rule_or_reviewed_as_data():
    from kbsc.features.standin import StandinConfig

    stand_in = {f.name for f in dataclasses.fields(StandinConfig)}
    covered = set(CODE_KEYS) | set(EXECUTABLE_KEYS) | REVIEWED_DATA_KEYS | stand_in
    new = sorted(_all_config_keys() - covered)
    assert not new, f"config keys not reviewed for the code opt-in (kbsc.experiments.trust): {new}"
    # and the code keys the schema has are all found by the walk of a raw config
    for key in sorted((set(CODE_KEYS) | set(EXECUTABLE_KEYS)) & _all_config_keys()):
        assert code_entries({"systems": [{"options": {key: "x/y.py"}}]}), key
    assert set(EXECUTABLE_KEYS) <= _all_config_keys()  # bpgenc/bpgdec: still codec options
