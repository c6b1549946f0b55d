"""The one data directory: ``--data-dir``, else ``$KBSC_DATA``, else ``~/.cache/kbsc``."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(arg: str | os.PathLike[str] | None = None) -> Path:
    """Resolve (and create) the data directory that holds datasets, features, KBs and checkpoints."""
    if arg is not None:
        root = Path(arg)
    elif os.environ.get("KBSC_DATA"):
        root = Path(os.environ["KBSC_DATA"])
    else:
        root = Path.home() / ".cache" / "kbsc"
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root
