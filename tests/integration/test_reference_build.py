"""``kbsc models build`` on a tiny grid (fabricated dataset): it trains the preset's JSCC models into the
store and signs them, a second build does not retrain, a run then loads the reference (its results name
it) and ``--retrain`` trains into the data directory instead."""

from __future__ import annotations

import json

import pandas as pd
import yaml

from kbsc.cli import main
from kbsc.experiments.config import parse_config
from kbsc.experiments.reference_models import build_references
from kbsc.experiments.runner import run_experiment
from kbsc.jscc import train as jscc_train
from kbsc.training.reference import verify_folder

TRAIN = {"setting": "tiny", "max_steps": 6, "eval_every": 3, "batch_size": 8, "n_val": 12}


def config(raw: bool = False):
    d = {
        "plugins": ["kbsc.jscc.system", "kbsc.jscc.toy"],
        "dataset": {"name": "jscc-toy16"},
        "extractor": {"name": "pooled-pixels"},
        "n_images": 10,
        "snr_db": [0],
        "cbr": ["1/6"],
        "channels": ["awgn"],
        "systems": [{"name": "deepjscc-adaptive", "options": {**TRAIN, "model_options": {"width": 8}}}],
    }
    return d if raw else parse_config(d)


def test_build_signs_then_reuses_and_runs_load_it(tmp_path, monkeypatch):
    store = tmp_path / "models"
    monkeypatch.setenv("KBSC_MODELS", str(store))
    kw = dict(command="kbsc models build toy.yaml", data_dir=tmp_path / "data", allow_code=True)
    first = build_references(config(), show_progress=False, **kw)
    assert [b.cached for b in first] == [False] and first[0].name.startswith("jscc/deepjscc-adaptive-k128-")
    folder = store / first[0].name
    ref = json.loads((folder / "manifest.json").read_text())["reference"]
    assert ref["command"] == "kbsc models build toy.yaml" and ref["dataset"]["name"] == "jscc-toy16"
    assert set(ref["files"]) == {"model.pt"} and len(ref["files"]["model.pt"]["sha256"]) == 64
    assert verify_folder(folder) is None and not (folder / "resume.pt").exists()

    cfg_file = tmp_path / "toy.yaml"
    cfg_file.write_text(yaml.safe_dump(config(raw=True)))
    with monkeypatch.context() as m:
        m.setattr(jscc_train, "_JSCCTraining", _refuse)
        argv = ["models", "build", str(cfg_file), "--allow-code", "--data-dir", str(tmp_path / "data")]
        assert main(argv) == 0  # already built: only the reference block is rewritten
        ref = json.loads((folder / "manifest.json").read_text())["reference"]
        assert ref["command"] == f"kbsc models build {cfg_file} --allow-code"
        run_experiment(config(), tmp_path / "run", backend="serial", data_dir=tmp_path / "data",
                       show_progress=False, allow_code=True)  # fmt: skip
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert list(df.model) == [folder.name]
    assert not (tmp_path / "data" / "jscc").exists()  # loaded from the store, nothing trained

    run_experiment(config(), tmp_path / "run2", backend="serial", data_dir=tmp_path / "data",
                   show_progress=False, allow_code=True, retrain=True)  # fmt: skip
    assert (tmp_path / "data" / "jscc" / folder.name / "model.pt").is_file()


def _refuse(*a, **k):
    raise AssertionError("trained although the model is built")
