"""Where a trained model lives: ``model.pt`` (config + weights), a manifest (what it was trained on, the
training report) and ``resume.pt`` while training runs. Shared by every trainer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from kbsc.training.loop import TrainingReport
from kbsc.util import atomic_write_bytes, read_manifest, write_manifest

__all__ = ["RESUME_NAME", "fixed_threads", "finished_manifest", "save_finished", "serialize"]

RESUME_NAME = "resume.pt"


def serialize(obj: Any) -> bytes:
    """``torch.save`` into bytes (for an atomic write)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Train with a fixed torch thread count (results depend on it), restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def finished_manifest(path: Path | None, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of the finished model at ``path`` if it matches ``expected`` (else None: train it)."""
    if path is None or not (Path(path) / "model.pt").exists():
        return None
    try:
        stored = read_manifest(path)
    except Exception:
        return None
    if stored.get("complete") and all(stored.get(k) == v for k, v in expected.items()):
        return stored
    return None


def save_finished(
    path: Path,
    config: dict[str, Any],
    state: dict[str, torch.Tensor],
    manifest: dict[str, Any],
    report: TrainingReport,
) -> None:
    """Write ``model.pt`` atomically, then the manifest (which marks it complete); drop ``resume.pt``."""
    path = Path(path)
    atomic_write_bytes(path / "model.pt", serialize({"config": config, "state": state}))
    write_manifest(
        path,
        {
            **manifest,
            "complete": True,
            "config": config,
            "training": report.as_dict(),
            "torch": torch.__version__,
        },
    )
    resume = path / RESUME_NAME
    if resume.exists():
        resume.unlink()
