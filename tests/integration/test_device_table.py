"""`device: cpu` (or --device cpu) gives the same table as the default on a CPU-only machine: a tiny grid with
a learned system trained in each run (separate data directories), compared cell by cell."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from kbsc.experiments.config import parse_config
from kbsc.experiments.runner import run_experiment
from kbsc.util import device as dev

TRAIN = {"setting": "tiny", "max_steps": 40, "eval_every": 20, "batch_size": 8, "lr": 3e-3, "n_val": 8}


def _config(device: str | None):
    data = {
        "plugins": ["kbsc.jscc.system", "kbsc.jscc.toy"],
        "dataset": {"name": "jscc-toy16"},
        "extractor": {"name": "pooled-pixels"},
        "n_images": 16,
        "snr_db": [0, 10],
        "cbr": ["1/6"],
        "channels": ["awgn"],
        "systems": [{"name": "deepjscc-adaptive", "options": {**TRAIN, "model_options": {"width": 8}}}],
    }
    if device is not None:
        data["device"] = device
    return parse_config(data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the default is CUDA (gpu_check compares)")
def test_cpu_setting_gives_the_default_table(tmp_path, monkeypatch):
    monkeypatch.delenv("KBSC_DEVICE", raising=False)
    monkeypatch.setitem(dev._state, "spec", None)
    tables = []
    for name, device in (("default", None), ("cpu", "cpu")):
        out = tmp_path / name
        run_experiment(_config(device), out, data_dir=tmp_path / f"data-{name}", backend="serial",
                       show_progress=False, allow_code=True)  # fmt: skip
        df = pd.read_parquet(out / "results.parquet").drop(columns=["wall_s", "provenance"])
        tables.append(df.sort_values(list(df.columns[:8])).reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert tables[0]["psnr"].notna().all()
