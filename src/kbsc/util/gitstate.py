"""The git state of the source tree, and the guard that keeps committed results made from committed code.

Results under the repository's ``results/`` folder are the ones the README quotes; docs/design.md §7 requires
them to come from a clean tree. :func:`guard_results_path` refuses to write there from a dirty tree unless the
user passes ``--allow-dirty``, in which case it warns on stderr and the provenance says ``+dirty``.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from kbsc.errors import ConfigError

__all__ = ["commit_of", "git_commit", "guard_results_path", "repo_root"]


def repo_root() -> Path | None:
    """The git checkout the package is imported from (``src/kbsc/..`` → root), None when installed."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / ".git").exists() else None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """``<sha>`` or ``<sha>+dirty`` of the tree the package is imported from (changes under ``results/``
    do not count), None outside a git checkout."""
    root = repo_root()
    return None if root is None else commit_of(root)


def commit_of(root: Path) -> str | None:
    """``<sha>`` or ``<sha>+dirty`` of the checkout at ``root``; tracked changes under ``results/`` are not
    dirt (they are what the commands write, not what makes them, so regenerating several committed results one
    after the other does not mark the later ones dirty)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)results",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def guard_results_path(
    paths: list[str | Path | None],
    allow_dirty: bool,
    root: Path | None = None,
    commit: str | None = None,
) -> bool:
    """Refuse (ConfigError) to write any of ``paths`` inside ``<repo>/results/`` from a dirty tree.

    With ``allow_dirty`` it warns on stderr instead. Returns True iff a committed-results path is written from
    a dirty tree (the caller's provenance then carries ``+dirty``). ``root``/``commit``: for tests.
    """
    root = repo_root() if root is None else Path(root)
    if root is None:
        return False
    results = (root / "results").resolve()
    inside = [p for p in paths if p is not None and Path(p).resolve().is_relative_to(results)]
    if not inside:
        return False
    commit = git_commit() if commit is None else commit
    if commit is not None and not commit.endswith("+dirty"):
        return False
    what = "uncommitted changes" if commit else "no git commit"
    if not allow_dirty:
        raise ConfigError(
            f"{inside[0]} is under the repository's results/ (the README quotes it) and the source tree has "
            f"{what}; commit first, or pass --allow-dirty to write it marked +dirty"
        )
    print(
        f"WARNING: writing committed results ({inside[0]}) from a tree with {what}: provenance marked +dirty",
        file=sys.stderr,
    )
    return True
