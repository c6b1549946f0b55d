"""Ray on several nodes that do not share the head's data directory: the head prepares and ships its data
directory (manifest-checked) and the table equals the serial run's."""

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
def test_multi_node_ray_with_separate_data_dirs_equals_serial(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from kbsc.experiments import backends

    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))  # the Ray workers get the driver's sys.path as PYTHONPATH
    monkeypatch.delenv("KBSC_RAY_DATA", raising=False)
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
        }
    )
    # toy-analog's prepare leaves a file per (system, channel, CSI, CBR, seed) in the data directory and its
    # evaluate refuses to run without it: a worker only gets it from the head's shipment.
    ref = run_experiment(
        cfg, tmp_path / "serial", backend="serial", data_dir=tmp_path / "ref", show_progress=False,
        allow_code=True,
    )
    node_dirs = [tmp_path / f"node{i}" for i in range(2)]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "env_vars": {"KBSC_DATA": str(tmp_path / "head-node")}},
    )
    try:
        for d in node_dirs:
            cluster.add_node(num_cpus=1, env_vars={"KBSC_DATA": str(d)})
        cluster.wait_for_nodes()
        seen: list[dict] = []
        real_close = backends.RayBackend.close

        def close(self):
            seen.extend(self.worker_info)
            real_close(self)

        monkeypatch.setattr(backends.RayBackend, "close", close)
        res = run_experiment(
            cfg,
            tmp_path / "ray",
            backend="ray",
            workers=2,
            ray_address=cluster.address,
            data_dir=tmp_path / "head",
            show_progress=False,
            allow_code=True,  # the toy systems come from a plug-in module
        )
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    assert res.n_computed == 16
    drop = ["wall_s", "provenance"]
    pd.testing.assert_frame_equal(res.results.drop(columns=drop), ref.results.drop(columns=drop))
    pd.testing.assert_frame_equal(load_outcomes(tmp_path / "ray"), load_outcomes(tmp_path / "serial"))
    # one actor per node, each on its own data directory holding the head's prepared files
    assert sorted(i["data_dir"] for i in seen) == sorted(str(d) for d in node_dirs)
    head = tmp_path / "head"
    head_files = sorted(p.relative_to(head) for p in (head / "toy-prepared").iterdir())
    assert len(head_files) == 8  # 2 systems x 2 channels x 2 CBRs
    for d in node_dirs:
        assert sorted(p.relative_to(d) for p in (d / "toy-prepared").iterdir()) == head_files
