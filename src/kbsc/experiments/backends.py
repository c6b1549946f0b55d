"""Execution backends: where cells run. Results never depend on the backend or the worker count, because each
cell is a pure function of its task (realizations are keyed by (seed, image id, slot), DESIGN.md §2) and the
runner writes and orders the results itself.

* ``serial``: in the calling process (debugging; reuses the systems the runner prepared).
* ``local`` (default): a spawn-context process pool, ``--workers N``, one compute thread per worker.
* ``ray``: Ray actors, one per worker, on a local Ray instance or the cluster at ``--ray-address``. The data
  directory must be reachable at the same path on every node.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kbsc.errors import ConfigError, KbscError
from kbsc.experiments.base import EvalContext, System
from kbsc.experiments.grid import Plan, Task
from kbsc.experiments.worker import CellOutput, CellWorker
from kbsc.util.registry import Registry

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "SerialBackend", "get_backend"]


class Backend(ABC):
    """Runs tasks and yields their :class:`CellOutput` as they finish (any order)."""

    name: str

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.options = options

    @abstractmethod
    def run(
        self, plan: Plan, tasks: list[Task], prepared: dict[str, System], ctx: EvalContext | None
    ) -> Iterator[CellOutput]:
        """Evaluate ``tasks``; ``prepared``/``ctx`` are the runner's own instances (in-process only)."""


BACKENDS: Registry[type[Backend]] = Registry("backend")


def get_backend(name: str, workers: int | None = None, **options: Any) -> Backend:
    return BACKENDS.get(name)(workers=workers, **options)


@BACKENDS.register("serial")
class SerialBackend(Backend):
    name = "serial"

    def run(self, plan, tasks, prepared, ctx):
        worker = CellWorker(plan, threads=None, systems=prepared, ctx=ctx)
        for task in tasks:
            yield worker.run(task)


_WORKER: CellWorker | None = None


def _init_pool_worker(plan: Plan) -> None:
    global _WORKER
    _WORKER = CellWorker(plan, threads=1)


def _pool_run(task: Task) -> CellOutput:
    assert _WORKER is not None, "pool worker not initialised"
    return _WORKER.run(task)


@BACKENDS.register("local")
class LocalBackend(Backend):
    name = "local"

    def run(self, plan, tasks, prepared, ctx):
        if not tasks:
            return
        n = min(self.workers, len(tasks))
        pool = ProcessPoolExecutor(
            max_workers=n, mp_context=mp.get_context("spawn"), initializer=_init_pool_worker, initargs=(plan,)
        )
        try:
            # Keep at most 2 tasks per worker in flight, so an error stops the grid quickly.
            todo = list(reversed(tasks))
            running = set()
            while todo or running:
                while todo and len(running) < 2 * n:
                    running.add(pool.submit(_pool_run, todo.pop()))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        raise KbscError(
                            "a worker process died (killed or out of memory); finished cells are kept, "
                            "rerun to resume (fewer --workers may help)"
                        ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@BACKENDS.register("ray")
class RayBackend(Backend):
    """Ray actors; ``address`` = an existing cluster (``ray start --head`` …), else a local instance."""

    name = "ray"

    def run(self, plan, tasks, prepared, ctx):
        if not tasks:
            return
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise ConfigError("the ray backend needs Ray: pip install 'kbsc[ray]'") from None
        address = self.options.get("address")
        started = False
        if not ray.is_initialized():
            env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            kw: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, **kw)
            started = True
        try:
            n = min(self.workers, len(tasks))
            remote_worker = ray.remote(num_cpus=1)(CellWorker)
            plan_ref = ray.put(plan)
            actors = [remote_worker.remote(plan_ref, 1) for _ in range(n)]
            pool = ActorPool(actors)
            yield from pool.map_unordered(lambda a, t: a.run.remote(t), tasks)
        finally:
            if started:
                ray.shutdown()
