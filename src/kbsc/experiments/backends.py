"""Execution backends: where cells run. Results never depend on the backend or the worker count, because each
cell is a pure function of its task (realizations are keyed by (seed, image id, slot), docs/design.md §2) and
the runner writes and orders the results itself.

* ``serial``: in the calling process (debugging; reuses the systems the runner prepared).
* ``local`` (default): a spawn-context process pool, ``--workers N``, one compute thread per worker. Workers
  exit when the run's process dies, even by ``kill -9`` (:mod:`kbsc.experiments.lifeline`).
* ``ray``: Ray actors, one per worker, on a local Ray instance or the cluster at ``--ray-address``. On a
  cluster (an address given) the workers do not need the head's data directory: the head prepares the
  workspace and every system's trained models itself, then ships its data directory to each node through the
  object store, checked file by file against a manifest (:mod:`kbsc.experiments.shipping`).
  ``KBSC_RAY_DATA=shared`` (or backend option ``data="shared"``) instead uses the head's data directory path
  on every node (a shared file system; the default for a local Ray instance).

**GPU-aware grids.** The cells (and preparations) of the *accelerated* systems (``System.accelerated``: KBSC,
pixel JSCC, plug-ins — their work is torch: the learned models and the extractor on decoded images) go where
the GPU is, and the other systems' cells (the conventional link, the digital baseline) to CPU workers, both
at once (:func:`split_tasks`):

* ``local``: when the run's device (:func:`kbsc.util.device.current_device`) is CUDA, the main process — which
  owns the GPU — runs the accelerated tasks one after the other in a thread, each cell in large batches,
  while the process pool (its workers set to ``--device cpu``) runs the rest. Backend option
  ``accelerated_in_process`` (True/False) forces this split on or off (tests use it on a CPU machine);
* ``ray``: with GPU resources in the cluster (or ``gpus=N`` declared for a local instance; default: the GPUs
  torch sees when the device is CUDA), one actor per GPU asks for ``num_gpus=1`` and runs the accelerated
  tasks; the ``--workers`` CPU actors (``num_cpus=1``, device ``cpu``) run the rest.

Every cell is still a pure function of its task, so the table is the CPU-only run's up to the documented
CPU-vs-GPU tolerance (float reductions and kernels differ on a GPU; the realizations and the conventional link
are bit-identical). Without a GPU nothing changes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kbsc.errors import ConfigError, DataError, KbscError
from kbsc.experiments.grid import Plan, Task
from kbsc.experiments.lifeline import Reaper, die_with_parent, start_reaper
from kbsc.experiments.worker import CellOutput, CellWorker
from kbsc.systems.base import EvalContext, System, system_class
from kbsc.util.device import current_device, device_spec
from kbsc.util.progress import enter_worker, is_quiet, relay
from kbsc.util.registry import Registry

__all__ = [
    "BACKENDS",
    "Backend",
    "LocalBackend",
    "RayBackend",
    "SerialBackend",
    "get_backend",
    "is_accelerated",
    "split_tasks",
]


def is_accelerated(plan: Plan, label: str) -> bool:
    """Whether the system of ``label`` in ``plan`` is an accelerated (torch) one (``System.accelerated``)."""

    sp = plan.systems.get(label)
    if sp is None:
        return False
    try:
        return bool(getattr(system_class(sp.name), "accelerated", False))
    except KbscError:  # a plug-in system not imported in this process: the CPU lane
        return False


def split_tasks(plan: Plan, tasks: list) -> tuple[list, list]:
    """(accelerated tasks, the others), each in the given order (cells and preparations alike)."""
    gpu: list = []
    cpu: list = []
    flags: dict[str, bool] = {}
    for t in tasks:
        if t.label not in flags:
            flags[t.label] = is_accelerated(plan, t.label)
        (gpu if flags[t.label] else cpu).append(t)
    return gpu, cpu


def _cuda_device() -> bool:
    """Whether this run's torch device is CUDA."""

    return current_device().type == "cuda"


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

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers (pools, Ray actors); the runner calls it when the run ends."""


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


def _init_pool_worker(plan: Plan, parent_pid: int, events: Any = None, device: str | None = None) -> None:
    global _WORKER
    die_with_parent(parent_pid)  # a `kill -9` of the run must not leave workers behind
    if events is not None:  # workers draw no bars; their state goes to the main process (see _relay_events)
        name = "w" + mp.current_process().name.rpartition("-")[2]
        enter_worker(events.put_nowait, name=name)
    _WORKER = CellWorker(plan, threads=1, device=device)


def _relay_events(events: Any) -> None:
    """Main-process thread: show the workers' progress (e.g. training steps) on the runner's bars."""
    while (event := events.get()) is not None:
        try:
            relay(event)
        except Exception:  # keep draining: a stalled queue would block the workers' exit
            pass


def _pool_run(task: Task) -> CellOutput:
    assert _WORKER is not None, "pool worker not initialised"
    return _WORKER.run(task)


@BACKENDS.register("local")
class LocalBackend(Backend):
    """A spawn-context process pool kept for the backend's life (prepare waves and cells share it)."""

    name = "local"

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        super().__init__(workers, **options)
        self._pool: ProcessPoolExecutor | None = None
        self._events: Any = None
        self._relay: threading.Thread | None = None
        self._in_process: CellWorker | None = None
        self._in_process_plan: Plan | None = None

    @property
    def split(self) -> bool:
        """Accelerated tasks in this process (the GPU's owner), the rest in the pool: on a CUDA device,
        unless the ``accelerated_in_process`` option says otherwise."""
        forced = self.options.get("accelerated_in_process")
        return _cuda_device() if forced is None else bool(forced)

    def _get_pool(self, plan: Plan) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = mp.get_context("spawn")
            self._events = ctx.Queue()
            self._relay = threading.Thread(target=_relay_events, args=(self._events,), daemon=True)
            self._relay.start()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_init_pool_worker,
                # the GPU stays with this process: pool workers run on the CPU when it takes the GPU tasks
                initargs=(plan, os.getpid(), self._events, "cpu" if self.split else None),
            )
        return self._pool

    def run(self, plan, tasks, prepared, ctx):
        if not tasks:
            return
        gpu, cpu = split_tasks(plan, tasks) if self.split else ([], list(tasks))
        if gpu:
            yield from self._run_split(plan, gpu, cpu, prepared, ctx)
        else:
            yield from self._run_pool(plan, cpu)

    def _run_split(self, plan, gpu, cpu, prepared, ctx):
        """The accelerated tasks in a thread of this process, the others in the pool, results as they
        come from either."""
        if self._in_process is None or self._in_process_plan is not plan:
            self._in_process = CellWorker(plan, threads=None, systems=prepared, ctx=ctx)
            self._in_process_plan = plan
        worker = self._in_process
        done_q: queue.Queue = queue.Queue()
        stop = threading.Event()
        finished = object()

        def lane() -> None:
            try:
                for task in gpu:
                    if stop.is_set():
                        break
                    done_q.put(worker.run(task))
            finally:
                done_q.put(finished)

        thread = threading.Thread(target=lane, name="kbsc-gpu-lane", daemon=True)
        thread.start()
        lane_open = True
        pool_iter = self._run_pool(plan, cpu) if cpu else iter(())
        try:
            for out in pool_iter:  # the pool's results as they come, the lane's in between
                yield out
                while True:
                    try:
                        item = done_q.get_nowait()
                    except queue.Empty:
                        break
                    if item is finished:
                        lane_open = False
                    else:
                        yield item
            while lane_open:
                item = done_q.get()
                if item is finished:
                    lane_open = False
                else:
                    yield item
        finally:
            stop.set()
            thread.join()

    def _run_pool(self, plan, tasks):
        pool = self._get_pool(plan)
        # At most 2 tasks per worker in flight, so an error stops the grid quickly.
        todo = list(reversed(tasks))
        running: set = set()
        try:
            while todo or running:
                while todo and len(running) < 2 * self.workers:
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
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._in_process = self._in_process_plan = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._relay is not None:
            self._events.put(None)
            self._relay.join(timeout=5)
            self._events.close()
            self._relay = self._events = None


@BACKENDS.register("ray")
class RayBackend(Backend):
    """Ray actors, one per worker, kept for the backend's life; ``address`` = an existing cluster
    (``ray start --head`` …), else a local Ray instance started (and stopped) here."""

    name = "ray"
    DATA_MODES = ("ship", "shared")

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        super().__init__(workers, **options)
        self._pool: Any = None
        self._started = False
        self._reaper: Reaper | None = None
        mode = (
            options.get("data")
            or os.environ.get("KBSC_RAY_DATA")
            or ("ship" if options.get("address") else "shared")
        )
        if mode not in self.DATA_MODES:
            raise ConfigError(f"Ray data mode must be one of {', '.join(self.DATA_MODES)}, got {mode!r}")
        self.data_mode = mode
        self.worker_info: list[dict[str, Any]] = []

    @property
    def prepare_on_head(self) -> bool:
        """Shipping needs the trained models on the head before the bundle is made."""
        return self.data_mode == "ship"

    def _declared_gpus(self) -> int:
        """GPUs to declare to a local Ray instance: the ``gpus`` option, else those torch sees when this run's
        device is CUDA, else none."""
        if self.options.get("gpus") is not None:
            return max(0, int(self.options["gpus"]))
        if not _cuda_device():
            return 0
        import torch

        return int(torch.cuda.device_count())

    def _get_pool(self, plan: Plan) -> Any:
        """``{"gpu": [actors], "cpu": [actors]}``: one ``num_gpus=1`` actor per GPU of the cluster (none
        without GPU resources) and ``--workers`` CPU actors."""
        if self._pool is not None:
            return self._pool
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray backend needs Ray: pip install 'kbsc[ray]'") from None
        address = self.options.get("address")
        if not ray.is_initialized():
            env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            # Workers' output stays with Ray (their bars are not drawn anyway); KBSC_QUIET also mutes Ray's
            # own start-up and shutdown messages.
            kw: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
            if is_quiet():
                kw["logging_level"] = logging.ERROR
            if address:
                ray.init(address=address, **kw)
            else:
                # "local": a fresh instance owned (and fate-shared) by this process, never a cluster that
                # happens to run on this machine (Ray would otherwise join the one in /tmp/ray). Each GPU
                # actor holds one CPU besides its GPU.
                gpus = self._declared_gpus()
                ray.init(
                    address="local",
                    num_cpus=self.workers + gpus,
                    num_gpus=gpus,
                    include_dashboard=False,
                    **kw,
                )
                # Ray kills its workers and core processes when this process dies; the reaper makes sure
                # its agents do not linger either
                self._reaper = start_reaper()
            self._started = True

        # --device cpu keeps every task on the CPU actors, even on a cluster with GPUs
        n_gpu = 0 if device_spec() == "cpu" else int(ray.cluster_resources().get("GPU", 0))
        plan_ref = ray.put(plan)
        if self.data_mode == "ship":
            from kbsc.experiments.shipping import (  # lazy: only this path needs it
                ShippedCellWorker,
                pack_data_dir,
            )
            from kbsc.training.reference import store_root  # lazy: only this path needs it

            ctx = plan.context
            # the reference models travel too: a node may have no store of its own (a wheel install)
            models = None if plan.retrain else store_root()
            extra = {
                "dataset_root": ctx.dataset_root,
                "checkpoint": ctx.checkpoint,
                "models": str(models) if models is not None else None,
            }
            bundle_ref = ray.put(pack_data_dir(ctx.data_dir, extra))
            cls: Any = ShippedCellWorker
            args: tuple = (plan_ref, bundle_ref, 1)
        else:
            cls, args = CellWorker, (plan_ref, 1)
        # CPU actors run on the CPU whatever the driver's device; GPU actors resolve their own ("auto": the
        # GPU Ray gave them when torch sees it)
        cpu = [ray.remote(num_cpus=1)(cls).remote(*args, device="cpu") for _ in range(self.workers)]
        gpu = [ray.remote(num_cpus=1, num_gpus=1)(cls).remote(*args, device="auto") for _ in range(n_gpu)]
        if self.data_mode == "ship":
            try:  # every node has unpacked and checked the bundle before a cell runs
                self.worker_info = ray.get([a.info.remote() for a in gpu + cpu])
            except Exception as exc:
                lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                msg = lines[-1] if lines else str(exc)
                raise DataError(f"a Ray worker could not take the head's data: {msg}") from None
        self._pool = {"gpu": gpu, "cpu": cpu}
        return self._pool

    def run(self, plan, tasks, prepared, ctx):
        """Accelerated tasks to the GPU actors (when there are any), the others to the CPU actors, each
        actor one task at a time; results as they finish."""
        if not tasks:
            return
        import ray

        pool = self._get_pool(plan)
        gpu, cpu = split_tasks(plan, tasks) if pool["gpu"] else ([], list(tasks))
        todo = {"gpu": list(reversed(gpu)), "cpu": list(reversed(cpu))}
        idle = {kind: list(actors) for kind, actors in pool.items()}
        running: dict[Any, tuple[str, Any]] = {}
        try:
            while todo["gpu"] or todo["cpu"] or running:
                for kind in ("gpu", "cpu"):
                    while todo[kind] and idle[kind]:
                        actor = idle[kind].pop()
                        running[actor.run.remote(todo[kind].pop())] = (kind, actor)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    kind, actor = running.pop(ref)
                    idle[kind].append(actor)
                    yield ray.get(ref)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._pool = None
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        if self._reaper is not None:
            self._reaper.stop()
            self._reaper = None
