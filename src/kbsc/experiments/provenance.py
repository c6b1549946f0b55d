"""Provenance of a run: package versions, Python, platform and the git commit of the source tree."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_commit", "provenance", "provenance_tag"]

PACKAGES = (
    "kbsc",
    "numpy",
    "scipy",
    "torch",
    "sionna-no-rt",
    "faiss-cpu",
    "numba",
    "pandas",
    "pyarrow",
    "pillow",
    "pillow-heif",
    "pydantic",
    "ray",
)


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """``<sha>`` or ``<sha>+dirty`` of the tree the package is imported from, None outside a git checkout."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    return {
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
    }


def provenance_tag(prov: dict[str, Any]) -> str:
    """The compact ``provenance`` column: ``kbsc=<version>;git=<sha12>[+dirty]``."""
    commit = prov.get("git_commit") or "none"
    short = commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    return f"kbsc={prov['packages'].get('kbsc')};git={short}"
