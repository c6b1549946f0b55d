"""The grid runner behind ``kbsc run``: resumable, locked, paired.

0. Validate the whole config (:func:`~kbsc.experiments.config.validate_config`: code opt-in, system options,
   grid values, names) before anything is written; a run that then fails before its first cell result
   removes the ``DIR`` it created.
1. Lock ``DIR/.lock`` (a second run into the same directory is refused at once).
2. Compare the effective configuration with ``DIR/config.yaml``; a change is refused unless ``force``.
3. Expand the grid; cells whose result file exists are done. Nothing pending → only reassemble the tables.
4. Build the context and call every system's ``prepare`` once here (training, caches), then dispatch the
   pending cells to the backend; workers only load.
5. Write each result atomically as it arrives, after checking that its realization fingerprint equals that of
   every other system in the same (channel, CSI, SNR, CBR, seed) — a mismatch stops the run.
6. Assemble ``results.parquet``/``.csv`` and ``outcomes.parquet`` in grid order, plus ``provenance.json``.

Because each cell is a pure function of its task and the tables are rebuilt from the cell files in grid order,
a ``kill -9`` at any moment followed by a rerun gives the same tables as an uninterrupted run
(except wall time).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from filelock import FileLock, Timeout

from kbsc.errors import ConfigError, DataError, KbscError
from kbsc.experiments.backends import BACKENDS, get_backend
from kbsc.experiments.config import ExperimentConfig, config_hash, validate_config
from kbsc.experiments.context import get_context
from kbsc.experiments.grid import Plan, PrepareTask, SystemPlan, Task, context_spec, expand, pairing_key
from kbsc.experiments.provenance import provenance, provenance_tag
from kbsc.experiments.results import assemble, cell_path, read_cell_summary, summarize, write_cell
from kbsc.systems.base import Cell, EvalContext, System, get_system
from kbsc.training.reference import retrain_requested, retraining
from kbsc.util.device import apply_config_device, resolve_device, set_precision
from kbsc.util.hashing import hash_obj
from kbsc.util.io import atomic_write_json, atomic_write_text
from kbsc.util.paths import data_dir as resolve_data_dir
from kbsc.util.progress import progress

__all__ = ["FingerprintMismatch", "RunSummary", "run_experiment"]


class FingerprintMismatch(KbscError):
    """Two systems of the same cell used different images or channel realizations."""


@dataclass
class RunSummary:
    out_dir: Path
    n_cells: int
    n_done_before: int
    n_computed: int
    wall_s: float
    results: pd.DataFrame

    def models(self) -> dict[str, dict[str, Any]]:
        """The trained models behind the results: ``{model: {"systems": [...], "converged": bool}}``."""
        return model_verdicts(self.results)

    def model_lines(self) -> list[str]:
        """One line per trained model with its verdict, and for each one that did not converge what to do."""
        lines = []
        for name, info in self.models().items():
            systems = ", ".join(info["systems"])
            if info["converged"]:
                lines.append(f"model {name} ({systems}): converged")
            else:
                lines.append(
                    f"model {name} ({systems}): NOT converged (hit its step ceiling while improving); raise "
                    "max_steps in its system's options (or the experiment's training block) and rerun"
                )
        return lines


def model_verdicts(results: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Distinct trained models in a results table (columns ``model``, ``model_converged``) and verdicts."""
    out: dict[str, dict[str, Any]] = {}
    if "model" not in results.columns:
        return out
    rows = results[results["model"].fillna("").astype(str) != ""]
    for name, group in rows.groupby("model", sort=True):
        out[str(name)] = {
            "systems": sorted(group["system"].astype(str).unique()),
            "converged": bool((group["model_converged"] > 0.5).all()),
        }
    return out


def _check_config(out_dir: Path, cfg: ExperimentConfig, force: bool) -> None:
    stored_path = out_dir / "config.yaml"
    canon = cfg.canonical()
    has_results = any((out_dir / "cells").glob("*.parquet"))
    if stored_path.exists() and has_results and not force:
        from kbsc.util.safe_yaml import load_yaml_file  # lazy: only this path needs it

        try:
            stored = load_yaml_file(stored_path)
        except ConfigError:  # damaged or hostile: treated as a different configuration
            stored = None
        if stored != canon:
            diff = sorted(k for k in set(canon) | set(stored or {}) if (stored or {}).get(k) != canon.get(k))
            raise ConfigError(
                f"{out_dir} holds results of a different configuration "
                f"(differs in: {', '.join(diff) or '?'}); "
                "use a new --out directory or --force to run the new one there"
            )
    atomic_write_text(stored_path, yaml.safe_dump(canon, sort_keys=False))


class _FingerprintBook:
    def __init__(self) -> None:
        self.seen: dict[tuple, tuple[str, str]] = {}

    def check(self, task: Task, fingerprint: str) -> None:
        if not fingerprint:
            return
        key = pairing_key(task.cell)
        if key not in self.seen:
            self.seen[key] = (fingerprint, task.label)
            return
        fp0, who = self.seen[key]
        if fp0 != fingerprint:
            c = task.cell
            raise FingerprintMismatch(
                f"realization fingerprint of {task.label!r} ({fingerprint}) differs from {who!r} ({fp0}) at "
                f"channel={c.channel} csi={c.csi} snr_db={c.snr_db:g} cbr={c.cbr:g} seed={c.seed}: "
                "the systems did not see the same images/channel; fix the system before comparing"
            )


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    data_dir: str | Path | None = None,
    force: bool = False,
    show_progress: bool = True,
    allow_code: bool = False,
    retrain: bool = False,
) -> RunSummary:
    """Run (or resume) the grid of ``cfg`` into ``out_dir``; return the assembled results.

    allow_code: a config that imports code (``plugins``, plug-in systems' ``module``) runs only with True
    (``kbsc run --allow-code``); without it a one-line ConfigError names the modules.
    The whole config is validated before anything is written; a run that fails before its first cell
    result removes the ``out_dir`` it created.
    retrain: train every model into the data directory instead of loading the committed reference models
    (``--retrain``); the workers get it through the plan.
    """
    t_start = time.perf_counter()
    validate_config(cfg, allow_code=allow_code)
    BACKENDS.get(backend)  # an unknown backend fails here, before any file exists
    apply_config_device(cfg.device)  # an absent GPU is refused here, before any file exists
    if cfg.precision == "fp16" and resolve_device().type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    set_precision(cfg.precision)  # the experiment's precision (part of its identity), for every worker
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}")
    out_dir, made = make_out_dir(out_dir)
    created = bool(made)
    lock = FileLock(str(out_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise KbscError(
            f"another `kbsc run` is writing to {out_dir} (lock {out_dir / '.lock'} is held); "
            "wait for it or use another --out directory"
        ) from None
    ok = False
    try:
        with retraining(retrain or retrain_requested()):
            summary = _run_locked(
                cfg, out_dir, backend, workers, ray_address, data_dir, force, show_progress, t_start
            )
        ok = True
        return summary
    finally:
        lock.release()
        if not ok and created and not any((out_dir / "cells").glob("*.parquet")):
            shutil.rmtree(out_dir, ignore_errors=True)
            for parent in made[1:]:  # the parents this run created, deepest first, if still empty
                try:
                    parent.rmdir()
                except OSError:
                    break


def make_out_dir(out_dir: str | Path) -> tuple[Path, list[Path]]:
    """Create the results directory ``out_dir`` (and missing parents); return it and the folders created,
    deepest first (so that a failed run removes only what it made). One-line :class:`ConfigError` for an
    empty name, a path that exists and is not a directory (a file, a dangling link) and a place where it
    cannot be created."""
    if not str(out_dir).strip():
        raise ConfigError("--out must name a results directory, got an empty name")
    out = Path(out_dir)
    if out.is_symlink() and not out.exists():
        raise ConfigError(f"--out {out} is a dangling symbolic link; give a directory")
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a directory")
        return out, []
    missing: list[Path] = []
    p = out
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    if (p.exists() and not p.is_dir()) or (p.is_symlink() and not p.exists()):
        raise ConfigError(f"cannot create results directory {out}: {p} is not a directory")
    made: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.append(d)
    except OSError as exc:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                break
        raise ConfigError(
            f"cannot create results directory {out}: {exc.strerror or type(exc).__name__} ({exc.filename})"
        ) from None
    return out, list(reversed(made))


def _run_locked(cfg, out_dir, backend, workers, ray_address, data_dir, force, show_progress, t_start):
    _check_config(out_dir, cfg, force)
    chash = config_hash(cfg)
    prov = provenance()
    atomic_write_json(out_dir / "provenance.json", {**prov, "config_hash": chash})
    tag = provenance_tag(prov)
    ddir = resolve_data_dir(data_dir)
    spec = context_spec(cfg, str(ddir))
    tasks = expand(cfg, spec)

    book = _FingerprintBook()
    pending: list[Task] = []
    for t in tasks:
        row = read_cell_summary(cell_path(out_dir, t.cell_hash))
        if row is None:
            pending.append(t)
        else:
            book.check(t, row.get("fingerprint") or "")
    n_done = len(tasks) - len(pending)

    if pending:
        ctx = get_context(spec)
        plan = Plan(
            plugins=list(cfg.plugins),
            context=spec,
            systems={
                label: SystemPlan(name=s.cell_system, options=s.options, cells=s.cells)
                for label, s in _system_cells(cfg, pending).items()
            },
            retrain=retrain_requested(),
        )
        runner = get_backend(backend, workers=workers, address=ray_address)
        try:
            _run_pending(cfg, out_dir, runner, backend, plan, pending, ctx, book, chash, tag, show_progress)
        finally:
            runner.close()
    results, _ = assemble(out_dir, tasks)
    summary = RunSummary(out_dir, len(tasks), n_done, len(pending), time.perf_counter() - t_start, results)
    _log_run(out_dir, summary, backend, workers, chash)
    return summary


def _run_pending(cfg, out_dir, runner, backend, plan, pending, ctx, book, chash, tag, show_progress) -> None:
    if backend == "serial" or runner.workers == 1 or getattr(runner, "prepare_on_head", False):
        prepared = _prepare_systems(cfg, pending, ctx)
    else:
        _prepare_in_parallel(runner, plan, pending, show_progress)
        prepared = {}
    by_hash = {t.cell_hash: t for t in pending}
    bar = progress(total=len(pending), desc="cells", unit="cell", host=True, disable=not show_progress)
    try:
        for res in runner.run(plan, pending, prepared, ctx):
            task = by_hash[res.cell_hash]
            if res.error is not None:
                c = task.cell
                _raise_worker_error(
                    res,
                    lambda head, c=c, task=task: (
                        f"system {task.label!r} failed on cell channel={c.channel} csi={c.csi} "
                        f"snr_db={c.snr_db:g} cbr={c.cbr:g} mcs={c.mcs} seed={c.seed}: {head} "
                        "(finished cells are kept; rerun to resume)"
                    ),
                )
            assert res.outcomes is not None
            book.check(task, res.outcomes.fingerprint or "")
            row = summarize(task, res.outcomes, ctx.source_dim, res.wall_s, chash, tag)
            write_cell(out_dir, row, res.outcomes)
            bar.update(1)
    finally:
        bar.close()


_USER_ERRORS: dict[str, type[KbscError]] = {"ConfigError": ConfigError, "DataError": DataError}


def _raise_worker_error(res, message: Callable[[str], str]) -> None:
    """Re-raise a worker's error here. A user error (a :class:`KbscError` in the worker) is its one line;
    anything else is a bug: its traceback goes to a file (for a bug report), and the one line names it."""
    head, _, tb = res.error.partition("\n")
    if res.user_error is not None:
        raise _USER_ERRORS.get(res.user_error, KbscError)(message(head))
    where = _save_traceback(tb)
    raise KbscError(message(head) + (f" [traceback in {where}]" if where else ""))


def _save_traceback(tb: str) -> str | None:
    """Write a worker's traceback to a temporary file (kept: it is for a bug report); its path, or None."""
    import tempfile

    if not tb.strip():
        return None
    try:
        fd, path = tempfile.mkstemp(prefix="kbsc-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(tb)
        return path
    except OSError:
        return None


def _log_run(out_dir: Path, s: RunSummary, backend: str, workers: int | None, chash: str) -> None:
    """Append this run to ``DIR/run_log.jsonl`` (wall time, cells computed, backend), read by `kbsc bench`."""
    import json
    import os

    entry = {
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_s": round(s.wall_s, 3),
        "n_cells": s.n_cells,
        "n_computed": s.n_computed,
        "backend": backend,
        "workers": workers or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "config_hash": chash,
        "models_converged": {name: info["converged"] for name, info in s.models().items()},
    }
    with open(out_dir / "run_log.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")


@dataclass
class _SysCells:
    cell_system: str
    options: dict
    cells: list


def _system_cells(cfg: ExperimentConfig, tasks: list[Task]) -> dict[str, _SysCells]:
    specs = {s.display: s for s in cfg.systems}
    out: dict[str, _SysCells] = {}
    for t in tasks:
        s = specs[t.label]
        out.setdefault(t.label, _SysCells(s.name, dict(s.options), [])).cells.append(t.cell)
    return out


def _prepare_groups(pending: list[Task]) -> list[list[PrepareTask]]:
    """Preparation work in two waves: the first group of each system (builds what the system shares across
    cells, e.g. encoded images), then every other group in parallel. A group is a (system, channel, CSI, CBR,
    seed): the finest split a system's trained state is expected to depend on."""
    groups: dict[tuple, list[Cell]] = {}
    for t in pending:
        c = t.cell
        groups.setdefault((t.label, c.channel, c.csi, c.cbr, c.seed), []).append(c)
    first, rest, seen = [], [], set()
    for key, cells in groups.items():
        pt = PrepareTask(label=key[0], cells=tuple(cells), cell_hash="prepare-" + hash_obj(repr(key)))
        (rest if key[0] in seen else first).append(pt)
        seen.add(key[0])
    return [first, rest]


def _prepare_in_parallel(runner, plan: Plan, pending: list[Task], show_progress: bool) -> None:
    """Each system's ``prepare`` on groups of cells in the workers (trained models land in the on-disk caches,
    which the workers then load); the main process stays free."""
    waves = _prepare_groups(pending)
    total = sum(len(w) for w in waves)
    # host=True: the bar's postfix shows the workers' own progress (training steps), so that it does not
    # sit silently at "7/8" while a model trains in a worker.
    bar = progress(total=total, desc="prepare", unit="group", host=True, disable=not show_progress)
    try:
        for wave in waves:
            by_id = {p.cell_hash: p for p in wave}
            for res in runner.run(plan, wave, {}, None):
                if res.error is not None:
                    label = by_id[res.cell_hash].label
                    _raise_worker_error(
                        res, lambda head, label=label: f"system {label!r} failed to prepare: {head}"
                    )
                bar.update(1)
    finally:
        bar.close()


def _prepare_systems(cfg: ExperimentConfig, pending: list[Task], ctx: EvalContext) -> dict[str, System]:
    prepared: dict[str, System] = {}
    for label, sc in _system_cells(cfg, pending).items():
        system = get_system(sc.cell_system, **sc.options)
        try:
            system.prepare(ctx, sc.cells)
        except KbscError:
            raise
        except Exception as exc:
            raise DataError(f"system {label!r} failed to prepare: {type(exc).__name__}: {exc}") from exc
        prepared[label] = system
    return prepared
