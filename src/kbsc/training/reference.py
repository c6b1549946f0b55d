"""The committed reference models: a read-only store the trainers look in before they train.

The store's root is ``$KBSC_MODELS`` when set (an empty value: no store), else the models that ship inside the
package, ``kbsc/reference_models`` (package data of the wheel; in a source checkout a link to its ``models/``
folder, so both read the same files). Layout, with the file names of the
data-directory caches::

    models/jscc/<model folder>/{model.pt, manifest.json}        pixel JSCC (kbsc.jscc.train.model_dir)
    models/kbsc/<codec folder>/{model.pt, manifest.json}        KBSC codecs (kbsc.semantic.train.model_dir)
    models/extractors/<fingerprint>/{weights.pt, manifest.json} the stand-in extractor

A folder's manifest is its trainer's own (configuration, training report with the validation curve) plus a
``reference`` block written by ``kbsc models build``: ``command`` (the line that reproduces it),
``code_commit``, ``dataset`` ({name, fingerprint}) and ``files`` ({name: {sha256, bytes}}).

A trainer asks :func:`lookup` (by folder name) or :func:`lookup_match` (by manifest fields, for the stand-in
whose folder is named by its weights) before it trains. A folder is used only when its files hash to the
``files`` block and the trainer's expected keys (format, configuration hash, dataset fingerprint) are equal;
otherwise one line says why and the model is trained instead. ``--retrain`` (:func:`retraining`) skips the
store. Nothing is ever written into the store except by ``kbsc models build``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from kbsc.util.hashing import hash_file
from kbsc.util.manifest import read_manifest, write_manifest
from kbsc.util.progress import is_quiet
from kbsc.util.registry import Registry

__all__ = [
    "CATEGORIES",
    "ENV",
    "check_expected",
    "check_files",
    "file_table",
    "lookup",
    "lookup_match",
    "retrain_requested",
    "retraining",
    "set_retrain",
    "shipped_store",
    "store_root",
    "store_folders",
    "verify_folder",
    "write_reference",
]

ENV = "KBSC_MODELS"
MANIFEST = "manifest.json"
#: files of a model folder that are not part of the finished model (dotfiles are skipped too)
NOT_MODEL_FILES = frozenset({MANIFEST, "resume.pt"})

#: a trainer manifest's ``kind`` → the store's sub-folder
CATEGORIES: Registry[str] = Registry("reference model kind")
CATEGORIES.add("kbsc-jscc-model", "jscc")
CATEGORIES.add("kbsc-semantic-codec", "kbsc")
CATEGORIES.add("standin", "extractors")

#: expected manifest key → what a difference means
_DIFFERENCE = {
    "kind": "is another kind of model",
    "format": "was made by another code format",
    "version": "was made by another code version",
    "config_hash": "was trained with another configuration",
    "config": "was trained with another configuration",
    "seed": "was trained with another seed",
    "recipe": "was trained with another recipe",
    "train_images": "was trained on other data",
    "train_fingerprint": "was trained on other data",
    "train_features": "was trained on other data",
    "extractor": "was trained on another extractor's features",
}

_state: dict[str, Any] = {"retrain": False, "said": set(), "verified": {}}


def shipped_store() -> Path:
    """``kbsc/reference_models``: the models shipped as package data (a link to ``models/`` in a checkout)."""
    return Path(str(resources.files("kbsc") / "reference_models"))


def store_root(create: bool = False) -> Path | None:
    """The store's root: ``$KBSC_MODELS`` (empty: none), else the shipped models (:func:`shipped_store`).

    create: the root a build writes into, made if missing (None when no root can be named: a build never
    writes into an installed package, only into ``$KBSC_MODELS`` or a checkout's ``models/``); otherwise None
    unless the folder exists.
    """
    env = os.environ.get(ENV)
    if env is not None:
        root = Path(env).expanduser() if env.strip() else None
    else:
        root = shipped_store()
        if create:
            # in a checkout the package's folder is a link to models/; an installed package is read-only
            root = root.resolve() if root.is_symlink() else None
    if root is None:
        return None
    if create:
        root.mkdir(parents=True, exist_ok=True)
        return root
    return root if root.is_dir() else None


def set_retrain(flag: bool) -> None:
    """``--retrain``: skip the store in this process (the grid workers get it through their plan)."""
    _state["retrain"] = bool(flag)


def retrain_requested() -> bool:
    return bool(_state["retrain"])


@contextmanager
def retraining(flag: bool = True) -> Iterator[None]:
    """Skip (or, with False, use) the store inside the block; the previous setting is restored."""
    old = _state["retrain"]
    _state["retrain"] = bool(flag)
    try:
        yield
    finally:
        _state["retrain"] = old


def _say_once(text: str, warning: bool) -> None:
    if text in _state["said"] or (not warning and is_quiet()):
        return
    _state["said"].add(text)
    print(f"kbsc: {text}", file=sys.stderr, flush=True)


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """``{name: {sha256, bytes}}`` of the model files in ``folder`` (not manifest, resume state, dotfiles)."""
    return {
        p.name: {"sha256": hash_file(p, 64), "bytes": p.stat().st_size}
        for p in sorted(Path(folder).iterdir())
        if p.is_file() and p.name not in NOT_MODEL_FILES and not p.name.startswith(".")
    }


def _block(manifest: Any, key: str) -> dict[str, Any]:
    """``manifest[key]`` if it is a mapping, else {} (a hand-edited manifest is checked, not trusted)."""
    value = manifest.get(key) if isinstance(manifest, dict) else None
    return value if isinstance(value, dict) else {}


def check_files(folder: Path, manifest: dict[str, Any]) -> str | None:
    """What is wrong with the folder's files against its ``reference.files`` block (None: all equal)."""
    listed = _block(manifest, "reference").get("files")
    if not isinstance(listed, dict) or not listed:
        return "has no reference block (not made by `kbsc models build`)"
    actual = file_table(folder)
    missing = sorted(set(listed) - set(actual))
    if missing:
        return f"is incomplete (missing {', '.join(missing)})"
    changed = sorted(
        n for n, v in listed.items() if not isinstance(v, dict) or v.get("sha256") != actual[n]["sha256"]
    )
    if changed:
        return f"is corrupt or modified (sha256 mismatch: {', '.join(changed)})"
    extra = sorted(set(actual) - set(listed))
    if extra:
        return f"has files its manifest does not list ({', '.join(extra)})"
    return None


def _short(value: Any) -> str:
    text = str(value)
    return text[:8] + "…" if len(text) > 12 else text


def check_expected(manifest: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """The first difference between the manifest and what the trainer expects, as a phrase (None: equal)."""
    for key, want in expected.items():
        have = manifest.get(key)
        if have != want:
            what = _DIFFERENCE.get(key, f"differs in {key}")
            if isinstance(want, dict) or isinstance(have, dict):
                return what
            return f"{what} ({key} {_short(have)} vs {_short(want)})"
    if "complete" in manifest and not manifest["complete"]:
        return "is not a finished model"
    return None


def _verified(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, problem with its files), hashed once per process and state of the files (size, time)."""
    files = [p for p in sorted(folder.iterdir()) if p.is_file()]
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = (str(folder), tuple(stats))
    if key not in _state["verified"]:
        try:
            manifest = read_manifest(folder)
        except Exception as exc:
            _state["verified"][key] = (None, f"has no readable manifest ({type(exc).__name__})")
        else:
            _state["verified"][key] = (manifest, check_files(folder, manifest))
    return _state["verified"][key]


def _accept(folder: Path, label: str, expected: dict[str, Any]) -> Path | None:
    manifest, problem = _verified(folder)
    if problem is None and manifest is not None:
        problem = check_expected(manifest, expected)
    if problem is not None:
        _say_once(f"reference model {label} {problem}; training it instead", warning=True)
        return None
    _say_once(f"using reference model {label} ({folder})", warning=False)
    return folder


def lookup(name: str, expected: dict[str, Any]) -> Path | None:
    """The store's folder ``<category of expected['kind']>/<name>`` if it is intact and matches ``expected``.

    None (and nothing said) when there is no store, no such folder or ``--retrain``; None with one line saying
    why when the folder exists but may not be used.
    """
    root = store_root()
    kind = str(expected.get("kind", ""))
    if root is None or retrain_requested() or kind not in CATEGORIES:
        return None
    category = CATEGORIES.get(kind)
    folder = root / category / name
    if not (folder / MANIFEST).is_file():
        return None
    return _accept(folder, f"{category}/{name}", expected)


def lookup_match(expected: dict[str, Any], match: tuple[str, ...]) -> Path | None:
    """Like :func:`lookup` for a model whose folder name is unknown before training (the stand-in): the
    candidates are the folders whose manifest equals ``expected`` on the ``match`` keys; one that equals it on
    every key is preferred, else the first candidate is reported as the reason for training."""
    root = store_root()
    kind = str(expected.get("kind", ""))
    if root is None or retrain_requested() or kind not in CATEGORIES:
        return None
    category = CATEGORIES.get(kind)
    candidates = []
    for folder in sorted(p for p in (root / category).glob("*") if (p / MANIFEST).is_file()):
        try:
            manifest = read_manifest(folder)
        except Exception:
            continue
        if all(manifest.get(k) == expected.get(k) for k in match):
            candidates.append((check_expected(manifest, expected) is not None, folder))
    if not candidates:
        return None
    folder = sorted(candidates)[0][1]
    return _accept(folder, f"{category}/{folder.name}", expected)


def store_folders(root: Path) -> list[tuple[str, Path]]:
    """``(category/name, folder)`` of every model folder in the store (those with a manifest)."""
    out = []
    for category in sorted({CATEGORIES.get(k) for k in CATEGORIES}):
        base = Path(root) / category
        if base.is_dir():
            out += [(f"{category}/{p.name}", p) for p in sorted(base.iterdir()) if (p / MANIFEST).is_file()]
    return out


def verify_folder(folder: Path) -> str | None:
    """What is wrong with a store folder (files, reference block, completeness), None when it is intact."""
    try:
        manifest = read_manifest(folder)
    except Exception as exc:
        return f"has no readable manifest ({type(exc).__name__})"
    problem = check_files(folder, manifest)
    if problem is None and "complete" in manifest and not manifest["complete"]:
        problem = "is not a finished model"
    block = _block(manifest, "reference")
    if problem is None and not (block.get("command") and block.get("dataset")):
        problem = "has a reference block without command or dataset"
    return problem


def write_reference(
    folder: Path, *, command: str, dataset: dict[str, Any], code_commit: str | None
) -> dict[str, Any]:
    """Add (or refresh) the ``reference`` block of a finished store folder; an existing ``code_commit`` is
    kept (it names the code that trained the model). Returns the new manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    old = manifest.get("reference") or {}
    manifest["reference"] = {
        "command": command,
        "code_commit": old.get("code_commit") or manifest.get("code_commit") or code_commit,
        "dataset": dataset,
        "files": file_table(folder),
    }
    write_manifest(folder, manifest)
    return manifest
