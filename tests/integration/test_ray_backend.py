"""The Ray backend (a local Ray instance) gives the same tables as the local process pool and serial runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from kbsc.experiments.config import parse_config
from kbsc.experiments.results import load_outcomes
from kbsc.experiments.runner import run_experiment

UNIT = Path(__file__).resolve().parents[1] / "unit"


@pytest.mark.ray
def test_ray_backend_equals_serial(tmp_path):
    pytest.importorskip("ray")
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))  # the Ray workers get the driver's sys.path as PYTHONPATH
    cfg = parse_config(
        {
            "plugins": ["test_experiments_toysys"],
            "dataset": {"name": "toy"},
            "extractor": {"name": "none"},
            "n_images": 40,
            "snr_db": [-3, 3],
            "cbr": ["1/8", "1/4"],
            "channels": ["awgn", "rayleigh"],
            "systems": [{"name": "toy-analog"}, {"name": "toy-analog-2"}],
        },
        allow_code=True,
    )
    kw = {"data_dir": tmp_path / "data", "show_progress": False, "allow_code": True}
    ref = run_experiment(cfg, tmp_path / "serial", backend="serial", **kw)
    res = run_experiment(cfg, tmp_path / "ray", backend="ray", workers=2, **kw)
    assert res.n_computed == 16
    drop = ["wall_s", "provenance"]
    pd.testing.assert_frame_equal(res.results.drop(columns=drop), ref.results.drop(columns=drop))
    pd.testing.assert_frame_equal(load_outcomes(tmp_path / "ray"), load_outcomes(tmp_path / "serial"))
