"""``kbsc estimate``: how long a grid will take on this machine, before it runs.

A grid's cost is known in advance from a bench report (``kbsc bench --json FILE``; found by
:func:`default_bench_path`: ``$KBSC_BENCH``, else the project's ``results/bench.json``): the bench times a
slice of the quick preset and stores the measured seconds per image of each (system label, CBR) under
``grid.per_image``, and the slice's parallel efficiency. Each cell of the config that is not yet stored under
``--out`` then costs ``n_images`` times the per-image cost of its label (else its registry name) at the
nearest measured CBR (:func:`extrapolate`, the same rule as the bench's own
``paper_grid_wall_s_estimate``). With a CLIP extractor each cell also pays the bench's CLIP-minus-stand-in
cost for every image that reaches the extractor
(``features.extractions_per_image``).

The bench's slice runs the quick preset's AWGN and OFDM Rayleigh channels with perfect CSI at its lowest and
highest SNR, every CBR and system; a cell on another channel is priced from the measured channel of its kind
(AWGN or fading), and cells of other CSI and SNRs from the measured ones (estimated CSI or another SNR changes
how many MCS an envelope tries per image, so read the figure as an order of magnitude).
Not included: training of learned systems and one-off preparation (dataset, extractor, features, knowledge
base), which a resumed run does not repeat either. The figure is as good as the bench behind it: a report from
another machine (other core count) is flagged.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kbsc.errors import DataError
from kbsc.experiments.config import ExperimentConfig
from kbsc.experiments.grid import context_spec, expand
from kbsc.experiments.results import cell_path, read_cell_summary

__all__ = [
    "clip_extra",
    "estimate_on_gpu",
    "gpu_clip_extras",
    "gpu_grid_estimate",
    "gpu_speedups",
    "extrapolate",
    "default_bench_path",
    "done_cells",
    "estimate_grid",
    "format_estimate",
    "load_bench",
    "run_banner",
]


#: the environment variable naming the bench report ``kbsc estimate`` and the run banner read
BENCH_ENV = "KBSC_BENCH"
#: where a project keeps its bench report, relative to the project's root
BENCH_REL = Path("results") / "bench.json"


#: channels priced from the AWGN rows of a bench; every other channel is priced from the fading rows
AWGN_LIKE = ("awgn", "authors-awgn")


def _price(g: pd.DataFrame, channel: str, cbr: float) -> float:
    """Seconds per image for a cell on ``channel`` at ``cbr`` from the bench rows ``g`` of its system: the
    rows of that channel if it was measured, else those of the measured channels of its kind (AWGN or
    fading), else all; averaged per CBR, at the nearest CBR (log scale)."""
    if "channel" in g:
        same = g[g["channel"] == channel]
        if not len(same):
            same = g[g["channel"].isin(AWGN_LIKE) == (channel in AWGN_LIKE)]
        if len(same):
            g = same
    per_cbr = g.groupby("cbr")["s_per_image"].mean()
    cbrs = per_cbr.index.to_numpy(dtype=float)
    i = int(np.argmin(np.abs(np.log(cbrs) - math.log(cbr))))
    return float(per_cbr.iloc[i])


def extrapolate(
    per_image: pd.DataFrame,
    cfg: ExperimentConfig,
    workers: int,
    efficiency: float = 1.0,
    extra_s: dict[tuple[str, float], float] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Estimated grid wall time of ``cfg`` from per-image cell costs ``[system?, registry_name, channel?,
    cbr, s_per_image]``.

    Each cell costs ``n_images × s_per_image`` of its label (the ``system`` column, when ``per_image`` has it
    and the label was measured: e.g. two configurations of one registry name) or else of its registry name,
    on its channel (else the measured channels of its kind, AWGN or fading: :func:`_price`) at the nearest
    measured CBR (log scale), plus ``n_images × extra_s[(label or registry name,
    cbr)]`` at the nearest CBR listed there (e.g. a slower extractor). Systems not measured are listed
    under ``unmeasured`` and left out, and so are the cells whose hash is in ``skip`` (already computed).
    Wall = cell seconds / (workers × efficiency). ``by_system`` splits the cell seconds by label (largest
    first), so a user sees what a grid's time is spent on.
    """
    tasks = expand(cfg, context_spec(cfg, "."))
    total, extra_total, unmeasured = 0.0, 0.0, set()
    by_system = {name: g for name, g in per_image.groupby("registry_name")}
    by_label = {name: g for name, g in per_image.groupby("system")} if "system" in per_image else {}
    extra_by: dict[str, list[tuple[float, float]]] = {}
    for (name, cbr), v in (extra_s or {}).items():
        extra_by.setdefault(name, []).append((float(cbr), float(v)))
    spent: dict[str, float] = {}
    prices: dict[tuple[str, str, str, float], float] = {}  # a grid has few distinct (rows, channel, CBR)
    done = 0
    for t in tasks:
        if t.cell_hash in skip:
            done += 1
            continue
        rows = ("label", t.label) if t.label in by_label else ("name", t.cell.system)
        g = (by_label if rows[0] == "label" else by_system).get(rows[1])
        if g is None:
            unmeasured.add(t.cell.system)
            continue
        key = (*rows, t.cell.channel, float(t.cell.cbr))
        if key not in prices:
            prices[key] = _price(g, t.cell.channel, t.cell.cbr)
        base = cfg.n_images * prices[key]
        cost = base
        e = extra_by.get(t.label) or extra_by.get(t.cell.system)
        if e:
            j = int(np.argmin([abs(math.log(c) - math.log(t.cell.cbr)) for c, _ in e]))
            extra_total += cfg.n_images * e[j][1]
            cost += cfg.n_images * e[j][1]
        total += base
        spent[t.label] = spent.get(t.label, 0.0) + cost
    eff = min(max(float(efficiency), 1e-3), 1.0)
    return {
        "cells": len(tasks),
        "cells_done": done,
        "cell_seconds": round(total + extra_total, 1),
        "extra_cell_seconds": round(extra_total, 1),
        "wall_s": round((total + extra_total) / (max(workers, 1) * eff), 1),
        "wall_s_full_efficiency": round((total + extra_total) / max(workers, 1), 1),
        "workers": workers,
        "parallel_efficiency": round(eff, 3),
        "unmeasured_systems": sorted(unmeasured),
        "by_system": {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])},
    }


def default_bench_path(cwd: str | Path | None = None) -> Path:
    """The bench report of the user's project: ``$KBSC_BENCH`` when set, else ``results/bench.json`` in the
    current directory or the nearest parent that has one (a checkout's committed report from anywhere inside
    it), else ``./results/bench.json`` (which may not exist: :func:`load_bench` then says how to make one)."""
    env = os.environ.get(BENCH_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    here = Path(cwd) if cwd is not None else Path.cwd()
    for folder in (here, *here.resolve().parents):
        if (folder / BENCH_REL).is_file():
            return folder / BENCH_REL
    return here / BENCH_REL


def load_bench(path: str | Path | None) -> tuple[dict[str, Any], Path]:
    """Read and check a bench report; a clear :class:`DataError` when it is missing, malformed or too old."""
    p = Path(path) if path else default_bench_path()
    hint = "write one with `kbsc bench --json FILE` on this machine and pass --bench FILE"
    if not p.is_file():
        raise DataError(f"no bench report at {p}: {hint}")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"bench report {p} is not readable JSON ({type(exc).__name__}): {hint}") from None
    rows = (report.get("grid") or {}).get("per_image") if isinstance(report, dict) else None
    if not isinstance(rows, list) or not rows:
        raise DataError(f"bench report {p} has no per-image grid costs (an older kbsc wrote it): {hint}")
    for row in rows:
        ok = isinstance(row, dict) and isinstance(row.get("registry_name"), str)
        try:
            ok = ok and float(row["cbr"]) > 0 and float(row["s_per_image"]) >= 0
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise DataError(f"bench report {p}: malformed grid.per_image entry {row!r}: {hint}")
    return report, p


def clip_extra(features: dict[str, Any] | None) -> dict[tuple[str, float], float]:
    """Extra seconds per sender image by (system, CBR) of CLIP ViT-B/32 over the stand-in, from a bench
    report's ``features`` section (empty when it was not measured)."""
    if not features or features.get("clip_s_per_image") is None:
        return {}
    delta = float(features["clip_s_per_image"]) - float(features.get("standin_s_per_image") or 0.0)
    return {
        (str(r["system"]), float(r["cbr"])): float(r["images"]) * delta
        for r in features.get("extractions_per_image") or []
    }


def estimate_grid(
    cfg: ExperimentConfig, report: dict[str, Any], workers: int, done: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The bench extrapolation of ``cfg`` from ``report`` for ``workers`` workers, without ``done`` cells."""
    grid = report["grid"]
    per_image = pd.DataFrame(grid["per_image"])
    if "system" not in per_image:
        per_image["system"] = per_image["registry_name"]
    extractor = cfg.extractor.name
    extra = clip_extra(report.get("features")) if extractor.startswith("clip") else {}
    est = extrapolate(
        per_image, cfg, workers, float(grid.get("parallel_efficiency") or 1.0), extra, skip=done
    )
    est["extractor_priced"] = "clip" if extra else "stand-in"
    est["extractor"] = extractor
    hevc = ((report.get("link") or {}).get("stages") or {}).get("hevc_grid") or {}
    uses_hevc = any(
        s.name.startswith("hevc") and s.options.get("codec", "hevc") == "hevc" for s in cfg.systems
    )
    gpu = estimate_on_gpu(cfg, report, workers, done)  # the bench ran on a GPU: 1 GPU + the workers
    if gpu is not None:
        est["gpu"] = gpu
    if uses_hevc and hevc.get("ms_per_image") is not None:
        # one-off: every (image, QP) a grid's budgets need, encoded once into the payload cache
        est["hevc_one_off_s"] = round(cfg.n_images * float(hevc["ms_per_image"]) / 1e3, 1)
    return est


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rem = divmod(s, 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"


def format_estimate(cfg: ExperimentConfig, est: dict[str, Any], report: dict[str, Any], path: Path) -> str:
    """The estimate as the lines ``kbsc estimate`` prints."""
    prov = report.get("provenance") or {}
    cores = (report.get("machine") or {}).get("cpu_count")
    todo = est["cells"] - est["cells_done"]
    lines = [
        f"{cfg.name}: {est['cells']} cells ({est['cells_done']} already done, {todo} to run), "
        f"{cfg.n_images} images per cell",
        f"estimated wall time with {est['workers']} workers: {_duration(est['wall_s'])} "
        f"({est['wall_s']:.0f} s; {est['cell_seconds']:.0f} cell-seconds at parallel efficiency "
        f"{est['parallel_efficiency']})",
    ]
    total = max(float(est["cell_seconds"]), 1e-9)
    share = max(est["workers"], 1) * est["parallel_efficiency"]
    parts = [
        f"{k} {_duration(v / share)} ({100 * v / total:.0f} %)"
        for k, v in est["by_system"].items()
        if v >= 0.005 * total
    ]
    if parts:
        lines.append("by system: " + ", ".join(parts))
    if est.get("hevc_one_off_s"):
        lines.append(
            f"plus, once per data directory: the HEVC quality search of the {cfg.n_images} images, about "
            f"{_duration(est['hevc_one_off_s'])} of one core (the bench's figure for a grid's budgets)"
        )
    gpu = est.get("gpu")
    if gpu:
        lines.append(
            f"on 1 GPU ({gpu['gpu']}) + {gpu['cores']} cores, learned cells on the GPU and the others on the "
            f"cores at once: {_duration(gpu['wall_s'])} ({gpu['wall_s']:.0f} s; the {gpu['bottleneck']} lane "
            f"is the longer; extractor priced as {gpu['extractor_priced']})"
        )
    if est["unmeasured_systems"]:
        lines.append("not priced (no bench figure): " + ", ".join(est["unmeasured_systems"]))
    if est["extractor_priced"] == "stand-in" and est["extractor"].startswith("clip"):
        lines.append(
            f"extractor {est['extractor']!r} priced as the stand-in: the bench measured no CLIP cost"
        )
    commit = str(prov.get("git_commit") or "?")[:7]
    lines.append(
        f"from {path} (commit {commit}, {cores} cores); not included: training and one-off preparation"
    )
    if cores and cores != os.cpu_count():
        lines.append(
            f"note: the bench ran on {cores} cores, this machine has {os.cpu_count()}: run "
            "`kbsc bench --json FILE` here for a figure of this machine"
        )
    return "\n".join(lines)


def done_cells(cfg: ExperimentConfig, out: str | Path | None) -> set[str]:
    """Hashes of the cells of ``cfg`` already stored under ``out`` (empty when there is no such folder)."""

    if not out or not Path(out).is_dir():
        return set()
    return {
        t.cell_hash
        for t in expand(cfg, context_spec(cfg, "."))
        if read_cell_summary(cell_path(Path(out), t.cell_hash)) is not None
    }


#: a run whose estimate is shorter than this gets no banner
BANNER_MIN_S = 600.0


def run_banner(
    cfg: ExperimentConfig, out: str | Path, workers: int, bench: str | Path | None = None
) -> str | None:
    """One line for ``kbsc run`` to print before a long grid starts: its estimated wall time from the bench
    report (the checkout's unless ``bench``), or None when the run is short, nothing is pending or there is no
    usable report (the run goes ahead either way)."""
    try:
        report, path = load_bench(bench)
        est = estimate_grid(cfg, report, workers, done_cells(cfg, out))
    except Exception:  # noqa: BLE001 - an estimate must never stop a run
        return None
    if est["cells"] == est["cells_done"] or est["wall_s"] < BANNER_MIN_S:
        return None
    top = next(iter(est["by_system"]), None)
    share = ""
    if top is not None:
        share = f"; {top} is {100 * est['by_system'][top] / max(est['cell_seconds'], 1e-9):.0f} % of it"
    return (
        f"kbsc: {est['cells'] - est['cells_done']} cells to run, estimated {_duration(est['wall_s'])} with "
        f"{workers} workers on a machine like the bench's ({path.name}, {est['extractor_priced']} extractor"
        f"{share}); `kbsc estimate` shows the split, training not included"
    )


# --- one GPU + the machine's cores (from a bench report with a ``gpu`` section, kbsc.tools.gpu_bench) ---


def gpu_speedups(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per system label, CPU ms over "GPU" ms per image (sender + receiver) of the complexity table's rows
    (the GPU figure counts the torch parts on the GPU and the others on the CPU); only rows with a GPU
    figure."""
    out: dict[str, float] = {}
    for r in rows:
        s, v = r.get("sender") or {}, r.get("receiver") or {}
        if "ms_per_image_cuda" not in s:
            continue
        cpu = float(s["ms_per_image_cpu"]) + float(v["ms_per_image_cpu"])
        gpu = float(s["ms_per_image_cuda"]) + float(v["ms_per_image_cuda"])
        if gpu > 0:
            out[str(r["system"])] = round(cpu / gpu, 3)
    return out


def gpu_grid_estimate(
    per_image: pd.DataFrame,
    cfg: Any,
    cores: int,
    efficiency: float,
    speedup: dict[str, float],
    extra_cpu: dict[tuple[str, float], float] | None = None,
    extra_gpu: dict[tuple[str, float], float] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Wall time of ``cfg`` on one GPU and ``cores`` CPU workers, run as a GPU-aware grid does
    (:mod:`kbsc.experiments.backends`): the accelerated systems' cells one after the other on the GPU (their
    CPU per-image cost divided by ``speedup[label]``, 1 when missing, plus ``extra_gpu``, e.g. CLIP on the
    GPU) and the others' cells on the cores (``extra_cpu``, e.g. CLIP on the CPU). Both lanes run at once:
    wall = the longer of the two."""
    from kbsc.systems.base import system_class  # the registry imports every system module

    accel = [s for s in cfg.systems if getattr(system_class(s.name), "accelerated", False)]
    plain = [s for s in cfg.systems if s not in accel]
    out: dict[str, Any] = {"cores": int(cores)}
    lanes = {}
    if accel:
        pi = per_image.copy()
        label = pi["system"] if "system" in pi else pi["registry_name"]
        factor = label.map(lambda x: 1.0 / float(speedup.get(x, 1.0)))
        pi["s_per_image"] = pi["s_per_image"] * factor
        gcfg = cfg.model_copy(update={"systems": accel})
        lanes["gpu"] = extrapolate(pi, gcfg, 1, 1.0, extra_gpu, skip=skip)
    if plain:
        ccfg = cfg.model_copy(update={"systems": plain})
        lanes["cpu"] = extrapolate(per_image, ccfg, cores, efficiency, extra_cpu, skip=skip)
    out.update({f"{k}_lane": v for k, v in lanes.items()})
    out["wall_s"] = round(max((v["wall_s"] for v in lanes.values()), default=0.0), 1)
    out["bottleneck"] = max(lanes, key=lambda k: lanes[k]["wall_s"]) if lanes else None
    return out


def gpu_clip_extras(
    report: dict[str, Any], section: dict[str, Any]
) -> tuple[dict[tuple[str, float], float], dict[tuple[str, float], float]] | None:
    """Extra seconds per sender image by (system, CBR) of CLIP over the stand-in: on the CPU (the bench's
    ``features`` section) and on the GPU (fp16 images/s of the ``gpu`` section); None when not measured."""
    feats = report.get("features") or {}
    clip_rate = ((section.get("extractor_images_per_s") or {}).get("clip-vit-b32") or {}).get("fp16")
    if feats.get("clip_s_per_image") is None or not clip_rate:
        return None
    base = float(feats.get("standin_s_per_image") or 0.0)
    extra_cpu, extra_gpu = {}, {}
    for r in feats.get("extractions_per_image") or []:
        key = (str(r["system"]), float(r["cbr"]))
        extra_cpu[key] = float(r["images"]) * (float(feats["clip_s_per_image"]) - base)
        extra_gpu[key] = float(r["images"]) * max(1.0 / float(clip_rate) - base, 0.0)
    return extra_cpu, extra_gpu


def estimate_on_gpu(
    cfg: Any, report: dict[str, Any], cores: int, done: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """``cfg`` on 1 GPU + ``cores`` from a bench report with a ``gpu`` section (None without one): the
    extractor priced as CLIP ViT-B/32 when ``cfg``'s extractor is a CLIP one and the bench measured it."""
    section = report.get("gpu")
    grid = report.get("grid") or {}
    if not section or not grid.get("per_image"):
        return None
    per_image = pd.DataFrame(grid["per_image"])
    eff = float(grid.get("parallel_efficiency") or 1.0)
    speedup = gpu_speedups((report.get("complexity") or {}).get("systems") or [])
    extras = gpu_clip_extras(report, section) if cfg.extractor.name.startswith("clip") else None
    est = gpu_grid_estimate(per_image, cfg, cores, eff, speedup, *(extras or (None, None)), skip=done)
    est["extractor_priced"] = "clip" if extras else "stand-in"
    est["gpu"] = (section.get("device") or {}).get("name")
    return est
