"""Ray scheduling of a GPU-aware grid, tested without a GPU: a local Ray instance declares one logical GPU;
the accelerated system's tasks run on the actor that holds it, the others on CPU actors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"


@pytest.mark.ray
def test_ray_sends_accelerated_tasks_to_the_gpu_actor(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("KBSC_DEVICE", "auto")  # the suite pins cpu (conftest); the GPU lane needs auto
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))
    from test_gpu_lanes import _retrieved, toy_plan

    from kbsc.experiments.backends import RayBackend, SerialBackend

    plan, tasks = toy_plan(tmp_path)
    ref = _retrieved(list(SerialBackend().run(plan, tasks, {}, None)))
    backend = RayBackend(workers=1, gpus=1)
    try:
        outs = list(backend.run(plan, tasks, {}, None))
    finally:
        backend.close()
    got = _retrieved(outs)
    assert got.keys() == ref.keys()
    for h in ref:
        np.testing.assert_array_equal(got[h], ref[h])
    label = {t.cell_hash: t.label for t in tasks}
    for o in outs:
        if label[o.cell_hash] == "toy-analog-gpu":
            assert o.worker["gpu_ids"] == ["0"] and o.worker["device"] == "auto", o.worker
        else:
            assert o.worker["gpu_ids"] == [] and o.worker["device"] == "cpu", o.worker
