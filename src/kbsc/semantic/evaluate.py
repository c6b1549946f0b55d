"""Evaluate a semantic codec: sender features → encoder → bridge → decoder → knowledge-base top-5.

The bridge is opened with the cell's seed and fed the sender images' own ids, so the realization keys
(seed, image id, slot) and hence the fingerprint equal those of every other system in the same cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kbsc.semantic.codec import SemanticCodec
from kbsc.semantic.transmit import transmit

__all__ = ["SemanticEval", "decode_features", "evaluate_codec", "retrieve_labels"]


def retrieve_labels(kb: Any, queries: np.ndarray, k: int = 5) -> np.ndarray:
    """Top-``k`` KB labels ``[N, k]`` of the decoded features ``[N, 512]``.

    Uses ``kb.retrieve_labels`` (the FAISS knowledge base); objects with only ``features``/``labels`` (test
    KBs) are searched exactly by inner product, which equals L2 ranking on a unit-norm KB.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if hasattr(kb, "retrieve_labels"):
        return np.asarray(kb.retrieve_labels(queries, k=k), dtype=np.int64)
    scores = queries @ np.asarray(kb.features, dtype=np.float32).T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.asarray(kb.labels, dtype=np.int64)[top]


@torch.no_grad()
def decode_features(
    codec: SemanticCodec,
    bridge: Any,
    features: np.ndarray,
    image_ids: np.ndarray,
    snr_db: float,
    batch: int = 1024,
) -> np.ndarray:
    """Decoded features ``[N, 512]`` of ``features`` ``[N, 512]`` sent with ids ``image_ids`` ``[N]``.

    ``batch`` only matters for the authors' batch power normalization (``power_norm="batch"``).
    """
    codec.eval()
    f = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    ids = torch.from_numpy(np.ascontiguousarray(image_ids, dtype=np.int64))
    out = [
        transmit(codec, bridge, f[s : s + batch], ids[s : s + batch], snr_db).cpu().numpy()
        for s in range(0, len(f), batch)
    ]
    return np.concatenate(out, axis=0) if out else np.zeros((0, codec.feature_dim), np.float32)


@dataclass
class SemanticEval:
    """Per-image retrieval of one (codec, SNR): retrieved ``[N, 5]`` labels and the realization
    fingerprint."""

    retrieved: np.ndarray
    fingerprint: str


def evaluate_codec(
    codec: SemanticCodec,
    bridge: Any,
    features: np.ndarray,
    image_ids: np.ndarray,
    kb: Any,
    snr_db: float,
    top_k: int = 5,
) -> SemanticEval:
    """Send ``features`` through ``bridge`` and retrieve from ``kb``."""
    decoded = decode_features(codec, bridge, features, image_ids, snr_db)
    return SemanticEval(retrieve_labels(kb, decoded, top_k), bridge.fingerprint(image_ids, codec.k))
