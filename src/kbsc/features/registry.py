"""Extractors by name: ``EXTRACTORS.get(name)`` is a factory, :func:`get_extractor` builds one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from kbsc.data.base import ImageSet
from kbsc.features.base import Extractor
from kbsc.util import Registry


class ExtractorFactory(Protocol):
    def __call__(
        self,
        data_dir: Path,
        train_set: ImageSet | None,
        checkpoint: Path | None,
        seed: int,
        show_progress: bool,
        **options: Any,
    ) -> Extractor: ...


EXTRACTORS: Registry[ExtractorFactory] = Registry(
    "feature extractor", modules=("kbsc.features.standin", "kbsc.features.clip")
)


def get_extractor(
    name: str,
    data_dir: str | Path,
    train_set: ImageSet | None = None,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    show_progress: bool = True,
    **options: Any,
) -> Extractor:
    """Build extractor ``name`` (the stand-in trains on ``train_set`` if not cached; CLIP reads a file).

    ``options`` are extractor-specific settings, e.g. ``max_steps=20, width=8`` for a tiny stand-in in tests.
    """
    factory = EXTRACTORS.get(name)
    return factory(
        data_dir=Path(data_dir),
        train_set=train_set,
        checkpoint=None if checkpoint is None else Path(checkpoint).expanduser(),
        seed=int(seed),
        show_progress=show_progress,
        **options,
    )
