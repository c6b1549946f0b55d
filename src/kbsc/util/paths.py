"""The one data directory: ``--data-dir``, else ``$KBSC_DATA``, else ``$XDG_CACHE_HOME/kbsc``, else
``~/.cache/kbsc`` (the XDG base-directory default)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_HELP = "data/cache directory (default: $KBSC_DATA, else $XDG_CACHE_HOME/kbsc, else ~/.cache/kbsc)"


def default_data_dir() -> Path:
    """Where the data directory is when none is given (not created)."""
    if os.environ.get("KBSC_DATA"):
        return Path(os.environ["KBSC_DATA"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative path is invalid and is ignored
        return Path(xdg) / "kbsc"
    return Path.home() / ".cache" / "kbsc"


def data_dir(arg: str | os.PathLike[str] | None = None) -> Path:
    """Resolve (and create) the data directory that holds datasets, features, KBs and checkpoints."""
    root = Path(arg) if arg is not None else default_data_dir()
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root
