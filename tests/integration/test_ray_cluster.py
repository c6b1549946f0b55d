"""Ray on several nodes that do not share the head's data directory: the head prepares and ships its data
directory (manifest-checked) and the table equals the serial run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kbsc.experiments.config import parse_config
from kbsc.experiments.results import load_outcomes, load_results
from kbsc.experiments.runner import run_experiment

HERE = Path(__file__).resolve().parent
UNIT = HERE.parent / "unit"
DONE = "ray-run-done.json"  # written by the child once its run has finished


def toy_config():
    """The 16-cell toy grid of both runs (2 systems × 2 channels × 2 SNRs × 2 CBRs)."""
    return parse_config(
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


@pytest.mark.ray
def test_multi_node_ray_with_separate_data_dirs_equals_serial(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))
    monkeypatch.delenv("KBSC_RAY_DATA", raising=False)
    # toy-analog's prepare leaves a file per (system, channel, CSI, CBR, seed) in the data directory and its
    # evaluate refuses to run without it: a worker only gets it from the head's shipment.
    ref = run_experiment(
        toy_config(),
        tmp_path / "serial",
        backend="serial",
        data_dir=tmp_path / "ref",
        show_progress=False,
        allow_code=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "KBSC_RAY_DATA"}
    env["PYTHONPATH"] = os.pathsep.join([str(UNIT), str(HERE), *sys.path])
    child = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(HERE / "ray_cluster_child.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    done = tmp_path / DONE
    assert child.returncode == 0 or done.exists(), (
        f"the Ray cluster run died (exit {child.returncode}):\n{child.stderr[-6000:]}"
    )
    if child.returncode != 0:  # results written, then Ray crashed while shutting down: say so, check them
        print(f"note: Ray's cluster exited {child.returncode} after the run:\n{child.stderr[-2000:]}")
    info = json.loads(done.read_text())
    assert info["n_computed"] == 16
    assert ref.n_computed == 16
    drop = ["wall_s", "provenance"]
    ray_table, serial_table = (load_results(tmp_path / d).drop(columns=drop) for d in ("ray", "serial"))
    pd.testing.assert_frame_equal(ray_table, serial_table)
    pd.testing.assert_frame_equal(load_outcomes(tmp_path / "ray"), load_outcomes(tmp_path / "serial"))
    # one actor per node, each on its own data directory holding the head's prepared files
    node_dirs = [tmp_path / f"node{i}" for i in range(2)]
    assert sorted(i["data_dir"] for i in info["seen"]) == sorted(str(d) for d in node_dirs)
    head = tmp_path / "head"
    head_files = sorted(p.relative_to(head) for p in (head / "toy-prepared").iterdir())
    assert len(head_files) == 8  # 2 systems x 2 channels x 2 CBRs
    for d in node_dirs:
        assert sorted(p.relative_to(d) for p in (d / "toy-prepared").iterdir()) == head_files
