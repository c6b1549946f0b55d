"""GPU-aware grids without a GPU: accelerated systems' tasks go to the GPU's lane (this process for the local
backend), the others to CPU workers, at once, with the same outcomes as a serial run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from kbsc.experiments.backends import LocalBackend, SerialBackend, split_tasks
from kbsc.experiments.config import parse_config
from kbsc.experiments.grid import Plan, SystemPlan, context_spec, expand
from kbsc.experiments.runner import _system_cells

UNIT = Path(__file__).resolve().parent


def toy_plan(data_dir: Path) -> tuple[Plan, list]:
    if str(UNIT) not in sys.path:
        sys.path.insert(0, str(UNIT))  # spawned and Ray workers get the driver's sys.path
    import test_experiments_toysys  # noqa: F401 - registers the toy systems

    cfg = parse_config(
        {
            "plugins": ["test_experiments_toysys"],
            "dataset": {"name": "toy"},
            "extractor": {"name": "none"},
            "n_images": 20,
            "snr_db": [-3, 3],
            "cbr": ["1/8", "1/4"],
            "channels": ["awgn"],
            "systems": [{"name": "toy-analog"}, {"name": "toy-analog-gpu"}],
        },
        allow_code=True,
    )
    spec = context_spec(cfg, str(data_dir))
    tasks = expand(cfg, spec)
    plan = Plan(
        plugins=list(cfg.plugins),
        context=spec,
        systems={
            label: SystemPlan(name=s.cell_system, options=s.options, cells=s.cells)
            for label, s in _system_cells(cfg, tasks).items()
        },
    )
    return plan, tasks


def _retrieved(outs) -> dict[str, np.ndarray]:
    assert all(o.error is None for o in outs), [o.error for o in outs if o.error]
    return {o.cell_hash: o.outcomes.retrieved for o in outs}


def test_split_follows_the_systems_accelerated_flag(tmp_path):
    from kbsc.systems.base import system_class

    plan, tasks = toy_plan(tmp_path)
    gpu, cpu = split_tasks(plan, tasks)
    assert {t.label for t in gpu} == {"toy-analog-gpu"} and {t.label for t in cpu} == {"toy-analog"}
    assert len(gpu) + len(cpu) == len(tasks) == 8
    # the learned systems are accelerated, the conventional link and the digital baseline are not
    flags = {n: system_class(n).accelerated for n in ("kbsc", "swinjscc", "deepjscc-adaptive", "hevc+ldpc")}
    assert flags == {"kbsc": True, "swinjscc": True, "deepjscc-adaptive": True, "hevc+ldpc": False}
    assert not system_class("kbsc-digital").accelerated


def test_local_backend_runs_accelerated_cells_in_this_process_beside_the_pool(tmp_path):
    plan, tasks = toy_plan(tmp_path)
    ref = _retrieved(list(SerialBackend().run(plan, tasks, {}, None)))
    backend = LocalBackend(workers=1, accelerated_in_process=True)
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
        in_here = o.worker["pid"] == os.getpid()
        assert in_here == (label[o.cell_hash] == "toy-analog-gpu"), (label[o.cell_hash], o.worker)
        if not in_here:
            assert o.worker["device"] == "cpu"  # the pool's workers leave the GPU to this process


def test_local_backend_does_not_split_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert not LocalBackend(workers=1).split


def test_jscc_cells_use_large_batches_on_a_gpu():
    from kbsc.jscc.system import EVAL_BATCH, eval_batch
    from kbsc.util.device import using_device

    with using_device("cpu"):
        assert eval_batch({}) == EVAL_BATCH["cpu"] == 250  # unchanged on the CPU
    with using_device("meta"):  # a device that is neither: the CPU batch
        assert eval_batch({}) == 250
    assert eval_batch({"batch": 64}) == 64
    assert EVAL_BATCH["cuda"] >= 500  # a quick-preset cell (500 images) in one call
