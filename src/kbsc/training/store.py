"""Where a trained model lives: ``model.pt`` (config + weights), a manifest (what it was trained on, the
training report) and ``resume.pt`` while training runs. Shared by every trainer.

Before training, a model that is not finished in its data-directory folder is looked up in the committed
reference store by the folder's name (:mod:`kbsc.training.reference`); a verified match is loaded from there
(read-only), anything else is trained here."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from filelock import FileLock

from kbsc.errors import DataError
from kbsc.training import reference
from kbsc.training.loop import Budget, TrainingReport, TrainTask, run_training
from kbsc.util import atomic_write_bytes, hash_file, read_manifest, write_manifest
from kbsc.util.device import current_device, describe_device, module_device, state_dict_to_cpu
from kbsc.util.warn import warn

__all__ = [
    "RESUME_NAME",
    "TrainJob",
    "derive_seed",
    "finished_manifest",
    "fixed_threads",
    "save_finished",
    "serialize",
    "train_or_load",
]

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


WEIGHTS_DIGEST = "weights_sha256"


def finished_manifest(path: Path | None, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of the finished model at ``path`` if it matches ``expected`` and ``model.pt`` matches the
    digest the manifest recorded when training finished (else None: train it). A model whose weights fail
    the check (damaged, altered, or written before kbsc kept digests) is never used: one warning line says
    so, and it is trained again (docs/design.md §7)."""
    if path is None or not (Path(path) / "model.pt").exists():
        return None
    try:
        stored = read_manifest(path)
    except Exception:  # noqa: BLE001 - an unreadable manifest: the model is trained again
        warn(f"the manifest of trained model {path} cannot be read; training it again", f"manifest:{path}")
        return None
    if not (
        isinstance(stored, dict)
        and stored.get("complete")
        and all(stored.get(k) == v for k, v in expected.items())
    ):
        return None
    digest = stored.get(WEIGHTS_DIGEST) or _reference_digest(stored)
    try:
        actual = hash_file(Path(path) / "model.pt", 64)
    except OSError as exc:
        actual = f"unreadable ({exc.strerror or exc})"
    if digest != actual:
        why = (
            "has no weights digest (trained by an older kbsc)"
            if digest is None
            else ("does not match the digest recorded when it was trained (damaged or altered)")
        )
        warn(f"trained model {Path(path) / 'model.pt'} {why}; it is not used and is trained again",
             key=f"digest:{path}")  # fmt: skip
        return None
    return stored


def _reference_digest(manifest: dict[str, Any]) -> str | None:
    """The SHA-256 of ``model.pt`` in a reference-store manifest's ``reference.files`` table (models signed by
    `kbsc models build` before the manifests carried ``weights_sha256``), else None."""
    ref = manifest.get("reference")
    files = ref.get("files") if isinstance(ref, dict) else None
    entry = files.get("model.pt") if isinstance(files, dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) else None


def save_finished(
    path: Path,
    config: dict[str, Any],
    state: dict[str, torch.Tensor],
    manifest: dict[str, Any],
    report: TrainingReport,
    device: dict[str, Any] | None = None,
) -> None:
    """Write ``model.pt`` atomically, then the manifest (which marks it complete); drop ``resume.pt``.

    device: :func:`kbsc.util.device.describe_device` of where it was trained (the manifest's ``device``)."""
    path = Path(path)
    state = state_dict_to_cpu(state)  # device-free weights: load with map_location onto any device
    weights = serialize({"config": config, "state": state})
    atomic_write_bytes(path / "model.pt", weights)
    write_manifest(
        path,
        {
            **manifest,
            "complete": True,
            WEIGHTS_DIGEST: hashlib.sha256(weights).hexdigest(),
            "config": config,
            "training": report.as_dict(),
            "torch": torch.__version__,
            **({"device": device} if device is not None else {}),
        },
    )
    resume = path / RESUME_NAME
    if resume.exists():
        resume.unlink()


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from integers (``numpy.random.SeedSequence``): per-epoch orders, per-step draws."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


class TrainJob(Protocol):
    """A trainer's side of :func:`train_or_load`: its model and the loop task."""

    model: torch.nn.Module

    def task(self) -> TrainTask: ...


def train_or_load(
    path: Path | None,
    expected: dict[str, Any],
    config: dict[str, Any],
    load: Callable[[Path], torch.nn.Module],
    make_job: Callable[[], TrainJob],
    budget: Budget,
    *,
    threads: int,
    resume: bool = True,
    stop_after: int | None = None,
    show_progress: bool = True,
    desc: str = "training",
) -> tuple[torch.nn.Module, TrainingReport, bool, Path | None]:
    """The finished model at ``path`` if its manifest matches ``expected``, else the reference model of the
    same name if the store has a verified match, else train it at ``path``.

    Returns (model in eval mode, report, cached, the folder it lives in: ``path`` or the store's). path
    None = train without keeping anything. One trainer per
    folder (a file lock: parallel workers may ask for the same model); the resumable state is ``resume.pt``,
    keyed by ``expected``; ``config`` is stored with the weights (``load`` rebuilds the model from it).
    The model returned is on :func:`kbsc.util.device.current_device` (weights are stored on the CPU).
    """
    model, report, cached, where = _train_or_load(
        path, expected, config, load, make_job, budget, threads, resume, stop_after, show_progress, desc
    )
    return model.to(current_device()), report, cached, where


def _train_or_load(
    path: Path | None,
    expected: dict[str, Any],
    config: dict[str, Any],
    load: Callable[[Path], torch.nn.Module],
    make_job: Callable[[], TrainJob],
    budget: Budget,
    threads: int,
    resume: bool,
    stop_after: int | None,
    show_progress: bool,
    desc: str,
) -> tuple[torch.nn.Module, TrainingReport, bool, Path | None]:
    args = (expected, config, make_job, budget, threads, resume, stop_after, show_progress, desc)
    if path is None:
        return (*_train(None, *args), False, None)
    path = Path(path)
    if finished_manifest(path, expected) is None:
        found = _from_reference(path.name, expected, load)
        if found is not None:
            return found
    path.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path / ".lock")):
        stored = finished_manifest(path, expected)
        if stored is not None and "training" in stored:
            try:
                return load(path).eval(), TrainingReport.from_dict(stored["training"]), True, path
            except (DataError, KeyError, TypeError) as exc:
                warn(f"trained model {path} cannot be loaded ({exc}); training it again")
        return (*_train(path, *args), False, path)


def _from_reference(
    name: str, expected: dict[str, Any], load: Callable[[Path], torch.nn.Module]
) -> tuple[torch.nn.Module, TrainingReport, bool, Path] | None:
    """The verified reference model ``name`` (None: none, or it may not be used; the store said why)."""
    folder = reference.lookup(name, expected)
    if folder is None:
        return None
    try:
        stored = read_manifest(folder)
        return load(folder).eval(), TrainingReport.from_dict(stored["training"]), True, folder
    except (DataError, KeyError, TypeError) as exc:
        warn(f"reference model {name} cannot be loaded ({exc}); training it instead")
        return None


def _train(
    path: Path | None,
    expected: dict[str, Any],
    config: dict[str, Any],
    make_job: Callable[[], TrainJob],
    budget: Budget,
    threads: int,
    resume: bool,
    stop_after: int | None,
    show_progress: bool,
    desc: str,
) -> tuple[torch.nn.Module, TrainingReport]:
    with fixed_threads(threads):
        job = make_job()
        report = run_training(
            job.task(),
            budget,
            checkpoint=path / RESUME_NAME if path is not None else None,
            key=expected,
            resume=resume,
            stop_after=stop_after,
            show_progress=show_progress,
            desc=desc,
        )
    if path is not None and report.stopped != "interrupted":
        where = describe_device(module_device(job.model))
        save_finished(path, config, job.model.state_dict(), expected, report, where)
    return job.model, report
