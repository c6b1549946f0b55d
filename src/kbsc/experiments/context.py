"""Build the :class:`~kbsc.systems.base.EvalContext` a cell runs on, once per process.

The sender images of an experiment are the first ``n_images`` of the workspace's sender half, chosen
class-balanced and deterministically (see :func:`balanced_subset`), so every system, worker and backend sees
the very same images. Datasets that are not workspaces (e.g. fabricated test sets) plug in through
:data:`CONTEXT_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.data.splits import balanced_subset
from kbsc.systems.base import EvalContext
from kbsc.util.registry import Registry

__all__ = ["CONTEXT_BUILDERS", "ContextSpec", "balanced_subset", "build_context", "get_context"]


@dataclass(frozen=True)
class ContextSpec:
    """Everything that determines a cell's :class:`EvalContext` (picklable, sent to workers)."""

    dataset: str
    extractor: str
    n_images: int
    data_dir: str
    dataset_root: str | None = None
    checkpoint: str | None = None
    split_seed: int = 0
    index: str = "flat"
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    extractor_options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def identity(self) -> dict[str, Any]:
        """The parts that change results (``data_dir`` does not)."""
        return {
            "dataset": self.dataset,
            "dataset_root": self.dataset_root,
            "extractor": self.extractor,
            "checkpoint": self.checkpoint,
            "extractor_options": dict(self.extractor_options),
            "split_seed": self.split_seed,
            "index": self.index,
            "n_images": self.n_images,
            "options": dict(self.options),
        }

    def key(self) -> tuple:
        return (
            self.dataset,
            self.dataset_root,
            self.extractor,
            self.checkpoint,
            self.split_seed,
            self.index,
            self.n_images,
            self.data_dir,
            repr(self.options),
        )


# A builder takes the spec and returns a ready EvalContext (for datasets that are not workspaces).
CONTEXT_BUILDERS: Registry[Callable[[ContextSpec], EvalContext]] = Registry("context builder")


def _toy_builder(size: int) -> Callable[[ContextSpec], EvalContext]:
    """The toy datasets of :mod:`kbsc.jscc.toy` (tests and quick checks; nothing is cached on disk)."""

    def build(spec: ContextSpec) -> EvalContext:
        from kbsc.jscc.toy import toy_context  # imported lazily: builds an extractor and an index

        return toy_context(n=spec.n_images, data_dir=spec.data_dir, options=dict(spec.options), size=size)

    return build


CONTEXT_BUILDERS.add("jscc-toy", _toy_builder(32))  # 32×32
CONTEXT_BUILDERS.add("jscc-toy16", _toy_builder(16))  # 16×16, fast tests


def _from_workspace(spec: ContextSpec) -> EvalContext:
    from kbsc.workspace import prepare_workspace  # imported lazily: heavy (torch, faiss)

    ws = prepare_workspace(
        dataset=spec.dataset,
        extractor=spec.extractor,
        data_dir=spec.data_dir,
        dataset_root=spec.dataset_root,
        checkpoint=spec.checkpoint,
        split_seed=spec.split_seed,
        index=spec.index,
        show_progress=True,
        extractor_options=dict(spec.extractor_options) or None,
    )
    sender = ws.sender
    idx = balanced_subset(sender.labels, spec.n_images)
    return EvalContext(
        data_dir=Path(spec.data_dir),
        images=sender.images[idx],
        labels=np.asarray(sender.labels[idx], dtype=np.int64),
        image_ids=np.asarray(sender.ids[idx], dtype=np.int64),
        features=np.asarray(ws.sender_features[idx], dtype=np.float32),
        extractor=ws.extractor,
        kb=ws.kb,
        workspace=ws,
        options=dict(spec.options),
    )


def build_context(spec: ContextSpec) -> EvalContext:
    """Build (not cached) the context for ``spec``."""
    if spec.dataset in CONTEXT_BUILDERS:
        return CONTEXT_BUILDERS.get(spec.dataset)(spec)
    return _from_workspace(spec)


_CACHE: dict[tuple, EvalContext] = {}


def get_context(spec: ContextSpec) -> EvalContext:
    """The context for ``spec``, built once per process."""
    key = spec.key()
    if key not in _CACHE:
        _CACHE[key] = build_context(spec)
    return _CACHE[key]
