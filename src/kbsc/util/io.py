"""Atomic file writes (temporary file in the same folder, fsync, rename): no half-written results."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbsc.errors import DataError


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None], fsync: bool = True) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` only if it succeeded.

    fsync: flush the file to disk before the rename. A cache whose files are checked against a digest on
    every read may skip it (a file cut short by a crash is then a miss, not an error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        if fsync:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, fsync: bool = True) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data), fsync=fsync)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a one-line :class:`DataError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path} is not valid JSON ({type(exc).__name__}); delete it to rebuild") from None
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or type(exc).__name__})") from None
