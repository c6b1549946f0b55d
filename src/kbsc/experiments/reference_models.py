"""``kbsc models build``: train the reference models a preset needs into the store and sign them.

What a preset needs: the stand-in extractor (when it trains one), the pixel JSCC models of its systems —
their configurations built exactly as the systems build them (``PixelJSCCSystem.train_config`` over the
expanded grid) — and, with ``codecs``, the KBSC codecs. Each model trains in its store folder with the
trainer's own code (``resume.pt`` there: an interrupted build continues where it stopped); a folder already
finished with a matching manifest is not retrained. Then its manifest gets the ``reference`` block
(:func:`kbsc.training.reference.write_reference`): the command, the code commit, the dataset and the file
hashes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbsc.data.registry import get_dataset
from kbsc.errors import ConfigError
from kbsc.experiments.config import ExperimentConfig, load_config, validate_config
from kbsc.experiments.context import get_context
from kbsc.experiments.grid import Task, context_spec, expand
from kbsc.features.standin import StandinConfig, standin_cache_dir, standin_from_cache
from kbsc.jscc.system import PixelJSCCSystem
from kbsc.jscc.train import model_dir, train_images, train_model
from kbsc.semantic.system import SemanticSystem
from kbsc.systems.base import EvalContext, System, get_system
from kbsc.training.reference import retraining, store_root, write_reference
from kbsc.util.device import apply_config_device
from kbsc.util.gitstate import git_commit
from kbsc.util.paths import data_dir as resolve_data_dir

__all__ = ["BuiltModel", "build_references"]


@dataclass
class BuiltModel:
    """One reference model a build handled: its store name, whether it was already finished, its report."""

    name: str
    cached: bool
    summary: str
    finished: bool = True


def _wanted(only: str | None, *labels: str) -> bool:
    return only is None or any(label.startswith(only) for label in labels)


def _systems(cfg: ExperimentConfig, tasks: list[Task]) -> Iterator[tuple[System, list[Task]]]:
    for s in cfg.systems:
        yield get_system(s.name, **s.options), [t for t in tasks if t.label == s.display]


def _train_configs(
    cfg: ExperimentConfig,
    tasks: list[Task],
    ctx: EvalContext,
    kind: type,
    threads: int | None,
    keep: Callable[[Any], bool] = lambda c: True,
) -> list[Any]:
    """The distinct training configurations (by hash) the systems of type ``kind`` build for their cells,
    exactly as in a run, with ``threads`` applied; ``keep`` filters them."""
    configs: dict[str, Any] = {}
    for system, own in _systems(cfg, tasks):
        if isinstance(system, kind):
            for t in own:
                c = system.train_config(t.cell, ctx)
                if keep(c):
                    configs.setdefault(c.hash(), dataclasses.replace(c, threads=threads or c.threads))
    return list(configs.values())


def build_references(
    config: str | ExperimentConfig,
    *,
    command: str,
    only: str | None = None,
    threads: int | None = None,
    codecs: bool = False,
    data_dir: str | Path | None = None,
    allow_code: bool = False,
    show_progress: bool = True,
) -> list[BuiltModel]:
    """Train (or finish, or only re-sign) every reference model ``config`` needs into the store.

    command: the line recorded as the one that reproduces the models; only: a prefix of the models' store
    names (``jscc/swinjscc``, ``swinjscc``, ``extractors``, ``standin``); threads: torch threads of the JSCC
    and codec training (the stand-in's count is part of its recipe); data_dir: where the workspace (dataset,
    features, knowledge base) is cached.
    """
    cfg = load_config(config, allow_code=allow_code) if isinstance(config, str) else config
    validate_config(cfg, allow_code=allow_code)  # before the store is created: nothing written for a bad one
    root = store_root(create=True)
    if root is None:
        raise ConfigError(
            "no reference store to write into: set KBSC_MODELS to a folder (installed packages are read-only)"
        )
    apply_config_device(cfg.device)  # the preset's `device:` unless --device / $KBSC_DEVICE said otherwise
    spec = context_spec(cfg, str(resolve_data_dir(data_dir)))
    sign = {"command": command, "code_commit": git_commit()}
    built: list[BuiltModel] = []
    if (
        cfg.extractor.name == "standin"
        and cfg.extractor.checkpoint is None
        and _wanted(only, "extractors/", "standin")
    ):
        built.append(_build_standin(cfg, spec.data_dir, root, sign, show_progress))
    ctx = get_context(spec)
    tasks = expand(cfg, spec)
    built += _build_jscc(cfg, tasks, ctx, root, sign, only, threads, show_progress)
    if codecs:
        built += _build_codecs(cfg, tasks, ctx, root, sign, only, threads, show_progress)
    return built


def _build_standin(
    cfg: ExperimentConfig, data_dir: str, root: Path, sign: dict[str, Any], show_progress: bool
) -> BuiltModel:
    train = get_dataset(cfg.dataset.name, Path(data_dir), root=cfg.dataset.root).load("train")
    options = dict(cfg.extractor.options)
    before = standin_cache_dir(root, train, 0, StandinConfig.from_options(**options))
    cached = (before / "manifest.json").is_file()
    with retraining(True):  # train into the store, never load from it
        ext = standin_from_cache(root, train, seed=0, show_progress=show_progress, **options)
    folder = root / "extractors" / ext.fingerprint
    dataset = {"name": cfg.dataset.name, "fingerprint": train.fingerprint}
    manifest = write_reference(folder, dataset=dataset, **sign)
    report = manifest.get("training") or {}
    summary = f"val_acc {report.get('best', float('nan')):.4g}, {report.get('steps', '?')} steps"
    return BuiltModel(f"extractors/{folder.name}", cached, summary)


def _build_jscc(
    cfg: ExperimentConfig,
    tasks: list[Task],
    ctx: EvalContext,
    root: Path,
    sign: dict[str, Any],
    only: str | None,
    threads: int | None,
    show_progress: bool,
) -> list[BuiltModel]:
    out = []
    for jc in _train_configs(cfg, tasks, ctx, PixelJSCCSystem, threads):
        name = model_dir(root / "jscc", jc).name
        if not _wanted(only, f"jscc/{name}", name):
            continue
        data = train_images(ctx.workspace)
        with retraining(True):
            res = train_model(jc, data, root / "jscc", show_progress=show_progress)
        out.append(_signed(f"jscc/{name}", res.path, res.cached, res.report, cfg, data.fingerprint, sign))
    return out


def _build_codecs(
    cfg: ExperimentConfig,
    tasks: list[Task],
    ctx: EvalContext,
    root: Path,
    sign: dict[str, Any],
    only: str | None,
    threads: int | None,
    show_progress: bool,
) -> list[BuiltModel]:
    from kbsc.semantic.train import (  # local: a name it binds is also bound at module level
        build_codec,
        model_dir,
        train_codec,
        training_data,
    )

    out = []
    trainable = _train_configs(cfg, tasks, ctx, SemanticSystem, threads, lambda c: build_codec(c).trainable)
    for kc in trainable:
        name = model_dir(root / "kbsc", kc).name
        if not _wanted(only, f"kbsc/{name}", name):
            continue
        data = training_data(ctx.workspace, split_seed=kc.split_seed)
        with retraining(True):
            res = train_codec(kc, data, root / "kbsc", show_progress=show_progress)
        fingerprint = str(ctx.workspace.train.fingerprint)
        out.append(_signed(f"kbsc/{name}", res.path, res.cached, res.report, cfg, fingerprint, sign))
    return out


def _signed(
    name: str, folder: Path | None, cached: bool, report: Any, cfg: ExperimentConfig, fp: str, sign: dict
) -> BuiltModel:
    """Write the reference block of a finished model (an interrupted one is left to the next build)."""
    if folder is None or report.stopped == "interrupted":
        return BuiltModel(name, cached, "interrupted: rerun the build to continue", finished=False)
    write_reference(folder, dataset={"name": cfg.dataset.name, "fingerprint": fp}, **sign)
    return BuiltModel(name, cached, report.summary())
