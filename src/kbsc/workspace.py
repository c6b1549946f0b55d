"""The prepared workspace: dataset → extractor → features → sender/receiver split → knowledge base → accuracy.

:func:`prepare_workspace` is what ``kbsc prepare`` runs and what every experiment starts from. Each step is
cached under the data directory (dataset, extractor weights, features, knowledge base), each cache with a
manifest, so a second call only loads files.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.data import get_dataset
from kbsc.data.base import ImageSet
from kbsc.data.splits import sender_receiver_split
from kbsc.features import Extractor, features_for, get_extractor
from kbsc.kb import KnowledgeBase
from kbsc.kb.knowledge_base import KB_FORMAT
from kbsc.metrics.retrieval import AccuracyResult, accuracy
from kbsc.util import data_dir as resolve_data_dir
from kbsc.util import read_manifest


@dataclass
class Workspace:
    """Everything an experiment needs, with features as float32 ``[N, 512]`` unit rows."""

    dataset: str
    extractor: Extractor
    train: ImageSet
    test: ImageSet
    sender: ImageSet
    receiver: ImageSet
    train_features: np.ndarray
    sender_features: np.ndarray
    receiver_features: np.ndarray
    kb: KnowledgeBase
    clean: AccuracyResult
    data_dir: Path
    kb_dir: Path | None = None
    split_seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def kb_dir_for(data_dir: Path, dataset: str, extractor: Extractor, split_seed: int, index: str) -> Path:
    """``data_dir/kb/<dataset>-<extractor fingerprint>[-<precision>]-split<seed>-<index>/``."""
    return Path(data_dir) / "kb" / f"{dataset}-{extractor.cache_tag}-split{split_seed}-{index}"


def kb_manifest(
    dataset: str, test: ImageSet, extractor: Extractor, split_seed: int, index: str
) -> dict[str, Any]:
    """What a saved knowledge base must have been made from to be reused."""
    return {
        "dataset": dataset,
        "dataset_fingerprint": test.fingerprint,
        "extractor": extractor.name,
        "extractor_fingerprint": extractor.fingerprint,
        "split_seed": split_seed,
        "index": index,
    }


def _older_kb_format(directory: Path) -> bool:
    try:
        fmt = read_manifest(directory).get("format")
    except Exception:  # noqa: BLE001 - a missing/broken manifest is refused by KnowledgeBase.load
        return False
    return isinstance(fmt, int) and not isinstance(fmt, bool) and fmt < KB_FORMAT


def _knowledge_base(
    directory: Path,
    features: np.ndarray,
    receiver: ImageSet,
    manifest: dict[str, Any],
    index: str,
    force: bool,
) -> KnowledgeBase:
    """Load the saved KB if it matches ``manifest``; else refuse (or rebuild when ``force``). A KB saved in
    an older format is rebuilt from the (cached) features: nothing of it is reused."""
    if directory.exists() and (force or _older_kb_format(directory)):
        shutil.rmtree(directory)
    if directory.exists():
        return KnowledgeBase.load(directory, manifest)  # refuses a mismatch, naming `kbsc prepare --force`
    kb = KnowledgeBase(features, receiver.labels, index=index, ids=receiver.ids)
    kb.save(directory, manifest)
    return kb


def prepare_workspace(
    dataset: str = "synthetic100",
    extractor: str = "standin",
    data_dir: str | Path | None = None,
    dataset_root: str | Path | None = None,
    checkpoint: str | Path | None = None,
    split_seed: int = 0,
    index: str = "flat",
    force: bool = False,
    show_progress: bool = True,
    extractor_seed: int = 0,
    extractor_options: dict[str, Any] | None = None,
) -> Workspace:
    """Build (or load from the caches) the workspace for ``dataset`` seen through ``extractor``.

    extractor_options: extractor-specific settings (``{"max_steps": 20, "width": 8}``: a tiny stand-in).
    force: rebuild the knowledge base even if a saved one exists (features and weights are content-addressed,
        so they are never stale).
    """
    root = resolve_data_dir(data_dir)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    ds = get_dataset(dataset, root, root=dataset_root)
    train, test = ds.load("train"), ds.load("test")
    timings["dataset_s"] = time.perf_counter() - t

    t = time.perf_counter()
    ext = get_extractor(
        extractor,
        root,
        train_set=train,
        checkpoint=checkpoint,
        seed=extractor_seed,
        show_progress=show_progress,
        **(extractor_options or {}),
    )
    timings["extractor_s"] = time.perf_counter() - t

    t = time.perf_counter()
    train_features = features_for(ext, train, root, show_progress=show_progress)
    test_features = features_for(ext, test, root, show_progress=show_progress)
    timings["features_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sender_idx, receiver_idx = sender_receiver_split(test.labels, split_seed)
    sender = test.subset(sender_idx, name=f"{test.name}-sender")
    receiver = test.subset(receiver_idx, name=f"{test.name}-receiver")
    directory = kb_dir_for(root, dataset, ext, split_seed, index)
    manifest = kb_manifest(dataset, test, ext, split_seed, index)
    kb = _knowledge_base(directory, test_features[receiver_idx], receiver, manifest, index, force)
    sender_features = test_features[sender_idx]
    clean = accuracy(sender.labels, kb.retrieve_labels(sender_features, k=5))
    timings["kb_s"] = time.perf_counter() - t

    return Workspace(
        dataset=dataset,
        extractor=ext,
        train=train,
        test=test,
        sender=sender,
        receiver=receiver,
        train_features=train_features,
        sender_features=sender_features,
        receiver_features=test_features[receiver_idx],
        kb=kb,
        clean=clean,
        data_dir=root,
        kb_dir=directory,
        split_seed=split_seed,
        timings=timings,
    )
