"""`kbsc run` killed with SIGKILL mid-grid, then rerun, gives the tables of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from kbsc.experiments.config import load_config
from kbsc.experiments.results import load_outcomes
from kbsc.experiments.runner import run_experiment

UNIT = Path(__file__).resolve().parents[1] / "unit"
CONFIG = """\
plugins: [test_experiments_toysys]
dataset: {name: toy}
extractor: {name: none}
n_images: 50
snr_db: [-6, -3, 0, 3, 6]
cbr: [1/8, 1/4]
seeds: [0, 1]
systems: [{name: toy-analog}, {name: toy-analog-2}]
"""


def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path):
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))
    cfg_path = tmp_path / "toy.yaml"
    cfg_path.write_text(CONFIG)
    out = tmp_path / "killed"
    env = {
        **os.environ,
        "TOY_SLEEP": "0.1",
        "KBSC_QUIET": "1",
        "PYTHONPATH": os.pathsep.join([str(UNIT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "kbsc.cli",
        "run",
        str(cfg_path),
        "--out",
        str(out),
        "--backend",
        "serial",
        "--data-dir",
        str(tmp_path / "data"),
        "--allow-code",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if len(list((out / "cells").glob("*.parquet"))) >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    n_before = len(list((out / "cells").glob("*.parquet")))
    assert 5 <= n_before < 40 and not (out / "results.parquet").exists()

    cfg = load_config(cfg_path, allow_code=True)
    kw = {"backend": "serial", "data_dir": tmp_path / "data", "show_progress": False, "allow_code": True}
    resumed = run_experiment(cfg, out, **kw)
    assert resumed.n_done_before == n_before and resumed.n_computed == 40 - n_before
    clean = run_experiment(cfg, tmp_path / "clean", **kw)
    # wall time differs; provenance (git commit) too if the tree changed between the two runs
    drop = ["wall_s", "provenance"]
    pd.testing.assert_frame_equal(resumed.results.drop(columns=drop), clean.results.drop(columns=drop))
    pd.testing.assert_frame_equal(load_outcomes(out), load_outcomes(tmp_path / "clean"))
