"""The code that evaluates cells, identical in every backend (in-process, process pool, Ray actor).

A :class:`CellWorker` is built once per worker process from the :class:`~kbsc.experiments.grid.Plan`: it
limits torch/numba to one thread, imports the plugins, builds the context from the caches and, on first use,
each system (calling its ``prepare`` with all the cells it will run, which loads what the main process
trained).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass

from kbsc.errors import KbscError
from kbsc.experiments.context import get_context
from kbsc.experiments.grid import Plan, PrepareTask, Task
from kbsc.experiments.plugins import import_plugins
from kbsc.systems.base import EvalContext, Outcomes, System, get_system
from kbsc.training.reference import set_retrain
from kbsc.util.progress import enter_worker, in_worker

__all__ = ["CellOutput", "CellWorker", "import_plugins", "limit_threads", "worker_info"]


@dataclass
class CellOutput:
    """What a worker sends back for one task: the outcomes (or the error) and the wall time."""

    cell_hash: str
    outcomes: Outcomes | None
    wall_s: float
    error: str | None = None
    #: the class name when the error is a user error (a KbscError: its message is the whole story)
    user_error: str | None = None
    #: where it ran: ``{"pid", "device", "gpu_ids"}`` (Ray's GPU ids of the worker; [] outside Ray)
    worker: dict | None = None


def worker_info(device: str | None = None) -> dict:
    """``{"pid", "device", "gpu_ids"}`` of this process: its torch device setting and the GPUs Ray assigned
    to it (empty outside a Ray worker, and for a worker that asked for none)."""
    import sys

    gpu_ids: list = []
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        try:
            gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        except Exception:  # the driver, or an old Ray
            gpu_ids = []
    if device is None:
        from kbsc.util.device import device_spec  # lazy: only this path needs it

        device = device_spec()
    return {"pid": os.getpid(), "device": device, "gpu_ids": gpu_ids}


def limit_threads(n: int = 1) -> None:
    """One compute thread per worker: the pool, not the libraries, uses the cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except Exception:  # pragma: no cover - torch is a dependency; be lenient in odd workers
        pass


class CellWorker:
    """Evaluates tasks of one plan; keeps the context and system instances between tasks.

    ``device``: the torch device setting of this worker (``cpu`` for the CPU workers of a grid whose learned
    cells run on a GPU elsewhere, ``auto`` for a Ray worker that was given a GPU); None keeps the process's.
    """

    def __init__(
        self,
        plan: Plan,
        threads: int | None = 1,
        systems: dict[str, System] | None = None,
        ctx: EvalContext | None = None,
        device: str | None = None,
    ) -> None:
        if device is not None:
            from kbsc.util.device import set_device  # lazy: only this path needs it

            set_device(device)
        if threads:  # out of process (pool, Ray): only the main process draws progress
            limit_threads(threads)
            if not in_worker():
                enter_worker()
        import_plugins(plan.plugins)
        set_retrain(plan.retrain)
        self.plan = plan
        self._ctx = ctx
        self._systems: dict[str, System] = dict(systems or {})
        self._info: dict | None = None

    def info(self) -> dict:
        """Where this worker runs (:func:`worker_info`), computed once."""
        if self._info is None:
            self._info = worker_info()
        return self._info

    @property
    def ctx(self) -> EvalContext:
        if self._ctx is None:
            self._ctx = get_context(self.plan.context)
        return self._ctx

    def system(self, label: str) -> System:
        if label not in self._systems:
            sp = self.plan.systems[label]
            system = get_system(sp.name, **sp.options)
            system.prepare(self.ctx, sp.cells)
            self._systems[label] = system
        return self._systems[label]

    def run(self, task: Task | PrepareTask) -> CellOutput:
        out = self._run(task)
        out.worker = self.info()
        return out

    def _run(self, task: Task | PrepareTask) -> CellOutput:
        t0 = time.perf_counter()
        try:
            if isinstance(task, PrepareTask):
                sp = self.plan.systems[task.label]
                get_system(sp.name, **sp.options).prepare(self.ctx, list(task.cells))
                return CellOutput(task.cell_hash, None, time.perf_counter() - t0)
            out = self.system(task.label).evaluate(task.cell, self.ctx)
        except KbscError as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return CellOutput(
                task.cell_hash, None, time.perf_counter() - t0, error=msg, user_error=type(exc).__name__
            )
        except Exception as exc:
            tb = traceback.format_exc()
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            return CellOutput(task.cell_hash, None, time.perf_counter() - t0, error=f"{msg}\n{tb}")
        return CellOutput(task.cell_hash, out, time.perf_counter() - t0)
