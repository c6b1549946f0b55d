"""Progress bars (tqdm on stderr) that stay quiet when KBSC_QUIET is set, e.g. in tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> Any:
    """``tqdm`` with the project's defaults; ``KBSC_QUIET=1`` disables it."""
    kwargs.setdefault("disable", bool(os.environ.get("KBSC_QUIET")))
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
