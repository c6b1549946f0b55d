"""Ship the head's prepared data directory to workers that do not share it (Ray on several machines).

The head prepares everything a cell needs — dataset cache, extractor weights, features, knowledge base and
the systems' trained models (``prepare`` runs on the head in this mode) — in its data directory, then
:func:`pack_data_dir` packs the files with a manifest (relative path → SHA-256 of the content) into one
:class:`DataBundle` that goes into Ray's object store once. Each worker unpacks it into its own node's data
directory (``$KBSC_DATA`` of the node, else ``~/.cache/kbsc``) with :func:`unpack_data_dir`, which checks
every file against the manifest before it is used (a mismatch is refused, never used), writes atomically,
keeps files whose content already matches, and does the work once per node (a lock and a marker named by the
bundle's digest). The caches inside carry their own manifests too (docs/design.md §7), so a worker still
refuses or rebuilds anything that does not match what made it.

The dataset folder (``dataset.root``), the extractor checkpoint and the reference model store
(:mod:`kbsc.training.reference`; not with ``--retrain``), when given, travel in the bundle too
(under ``_external/``) and the worker's context points at its copies; caches are keyed by content
fingerprints, not paths, so the head's caches stay valid on the worker. Not shipped: lock files, temporary
files and the markers of earlier bundles.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kbsc.errors import DataError
from kbsc.experiments.grid import Plan, PrepareTask, Task
from kbsc.experiments.worker import CellOutput, CellWorker
from kbsc.util import data_dir
from kbsc.util.hashing import hash_file

__all__ = [
    "MARKER_DIR",
    "DataBundle",
    "ShippedCellWorker",
    "pack_data_dir",
    "unpack_data_dir",
    "worker_data_dir",
]

MARKER_DIR = ".shipped"
EXTERNAL_DIR = "_external"
_SKIP_SUFFIXES = (".lock", ".tmp")


@dataclass(frozen=True)
class DataBundle:
    """manifest: relative POSIX path → SHA-256 hex; digest: hash of the manifest; blob: a plain tar."""

    manifest: dict[str, str]
    digest: str
    blob: bytes
    #: context paths (dataset root, checkpoint) → their place in the bundle, relative POSIX
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.blob)


def _shipped(rel: PurePosixPath) -> bool:
    if rel.parts and rel.parts[0] == MARKER_DIR:
        return False
    return not any(rel.name.endswith(s) for s in _SKIP_SUFFIXES)


def _files(top: Path) -> list[Path]:
    if top.is_file():
        return [top]
    return [p for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink()]


def pack_data_dir(root: str | Path, extra: dict[str, str | None] | None = None) -> DataBundle:
    """All regular files under ``root`` (not symlinks, locks, temporaries) with their SHA-256 manifest.

    extra: named paths the context reads outside the data directory (``dataset_root``, ``checkpoint``; a
    file or a folder); they travel under ``_external/<name>/`` and the worker reads them from there.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; nothing to ship")
    entries: list[tuple[PurePosixPath, Path]] = []
    for path in _files(root):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if rel.parts[0] != EXTERNAL_DIR and _shipped(rel):
            entries.append((rel, path))
    paths: dict[str, str] = {}
    for name, value in sorted((extra or {}).items()):
        if not value:
            continue
        top = Path(value).resolve()
        if not top.exists():
            raise DataError(f"{name} {value} does not exist on the head; nothing to ship")
        if top.is_relative_to(root.resolve()):
            paths[name] = top.relative_to(root.resolve()).as_posix()
            continue
        base = PurePosixPath(EXTERNAL_DIR, name, top.name)
        paths[name] = str(base)
        for path in _files(top):
            rel = base if path == top else base / path.relative_to(top).as_posix()
            if _shipped(rel):
                entries.append((rel, path))
    manifest: dict[str, str] = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in entries:
            manifest[str(rel)] = hash_file(path, 64)
            info = tarfile.TarInfo(str(rel))
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return DataBundle(manifest=manifest, digest=_digest(manifest, paths), blob=buf.getvalue(), paths=paths)


def _digest(manifest: dict[str, str], paths: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps([manifest, paths], sort_keys=True).encode()).hexdigest()


def _safe_rel(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise DataError(f"shipped data holds an unsafe path {name!r}; refused")
    return rel


def unpack_data_dir(bundle: DataBundle, target: str | Path) -> int:
    """Write ``bundle``'s files under ``target`` after checking each against the manifest; returns the number
    of files written (0 when this node already holds the bundle). Raises :class:`DataError` on a mismatch."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if _digest(bundle.manifest, bundle.paths) != bundle.digest:
        raise DataError("shipped data: the manifest does not match its digest; refused")
    marker = target / MARKER_DIR / bundle.digest
    (target / MARKER_DIR).mkdir(exist_ok=True)
    with open(target / MARKER_DIR / "unpack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return 0
        written, seen = 0, set()
        with tarfile.open(fileobj=io.BytesIO(bundle.blob), mode="r:") as tar:
            for member in tar:
                rel = _safe_rel(member.name)
                if not member.isfile() or str(rel) not in bundle.manifest:
                    raise DataError(f"shipped data holds {member.name!r}, which its manifest does not list")
                fh = tar.extractfile(member)
                assert fh is not None
                data = fh.read()
                if hashlib.sha256(data).hexdigest() != bundle.manifest[str(rel)]:
                    raise DataError(f"shipped file {rel} does not match its manifest hash; refused")
                seen.add(str(rel))
                dest = target.joinpath(*rel.parts)
                if dest.is_file() and hash_file(dest, 64) == bundle.manifest[str(rel)]:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".tmp")
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, dest)
                written += 1
        missing = set(bundle.manifest) - seen
        if missing:
            raise DataError(f"shipped data lacks {len(missing)} file(s) of its manifest, e.g. {min(missing)}")
        marker.write_text(json.dumps({"files": len(bundle.manifest)}) + "\n")
    return written


def worker_data_dir() -> Path:
    """This node's own data directory: ``$KBSC_DATA`` of the node (its ``ray start`` environment), else
    ``~/.cache/kbsc``."""

    return data_dir(None)


class ShippedCellWorker:
    """A :class:`CellWorker` on a node with its own data directory: unpacks the head's bundle there (checked
    against the manifest), then evaluates tasks with the plan's data directory replaced by the local one."""

    def __init__(
        self, plan: Plan, bundle: DataBundle, threads: int | None = 1, device: str | None = None
    ) -> None:
        import dataclasses

        local = worker_data_dir()
        self.files_written = unpack_data_dir(bundle, local)
        moved = {name: str(local.joinpath(*PurePosixPath(rel).parts)) for name, rel in bundle.paths.items()}
        if "models" in moved:  # the head's reference model store, read from its shipped copy
            from kbsc.training.reference import ENV  # lazy: only this path needs it

            os.environ[ENV] = moved.pop("models")
        context = dataclasses.replace(plan.context, data_dir=str(local), **moved)
        plan = dataclasses.replace(plan, context=context)
        self.data_dir = str(local)
        self._worker = CellWorker(plan, threads=threads, device=device)

    def run(self, task: Task | PrepareTask) -> CellOutput:
        return self._worker.run(task)

    def info(self) -> dict[str, object]:
        return {
            "data_dir": self.data_dir,
            "files_written": self.files_written,
            **self._worker.info(),
        }
