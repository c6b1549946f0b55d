"""The knowledge base's tie rule (kbsc.kb.index): exactly equal scores are ordered by database id, and for
the exact (flat) index the tied entries that make the top k are the lowest ids, however many are tied.
This is what makes the GPU flat search give the CPU's neighbours; here it is checked on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from kbsc.kb import KnowledgeBase
from kbsc.kb.index import TIE_MARGIN, order_ties, search_index


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _kb_with_copies(copies: list[int], n: int = 64, index: str = "flat", seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    feats = _unit(rng.normal(size=(n, 16)))
    target = feats[copies[0]].copy()
    feats[copies] = target  # exact duplicates: exactly equal scores for any query
    return KnowledgeBase(feats, np.arange(n) % 7, index=index), target


@pytest.mark.parametrize("n_copies", [3, 7, TIE_MARGIN + 9, 40])
def test_flat_ties_enter_the_top_k_by_id(n_copies):
    rng = np.random.default_rng(n_copies)
    copies = sorted(rng.choice(64, size=n_copies, replace=False).tolist())
    kb, target = _kb_with_copies(copies)
    query = target + 0.0  # the duplicated vector itself: the copies are the best, all tied
    _, idx = kb.search(query[None], 5)
    assert idx[0, : min(5, n_copies)].tolist() == copies[:5]
    scores, idx = kb.search(query[None], n_copies + 2)
    assert idx[0, :n_copies].tolist() == copies
    assert np.all(np.diff(scores[0]) <= 0)


def test_order_ties_sorts_by_score_then_id_and_keeps_missing_last():
    scores = np.array([[0.5, 0.9, 0.5, -np.inf, 0.9]], np.float32)
    idx = np.array([[7, 4, 2, -1, 1]], np.int64)
    s, i = order_ties(scores, idx)
    assert i.tolist() == [[1, 4, 2, 7, -1]] and s[0, -1] == -np.inf


def test_results_past_the_size_and_no_ties_are_unchanged():
    rng = np.random.default_rng(3)
    feats = _unit(rng.normal(size=(10, 8)))
    kb = KnowledgeBase(feats, np.arange(10))
    q = _unit(rng.normal(size=(4, 8)))
    scores, idx = kb.search(q, 12)
    assert (idx[:, 10:] == -1).all() and (scores[:, 10:] < -1e30).all()
    want = np.argsort(-(q @ feats.T), axis=1, kind="stable")
    np.testing.assert_array_equal(idx[:, :10], want)


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_order_their_ties_by_id(index):
    copies = [5, 9, 30, 41]
    kb, target = _kb_with_copies(copies, n=400, index=index)
    _, idx = kb.search(target[None], 4)
    assert idx[0].tolist() == copies


def test_cpu_setting_keeps_faiss_on_the_cpu(monkeypatch):
    monkeypatch.setenv("KBSC_DEVICE", "cpu")
    kb, _ = _kb_with_copies([1, 2])
    assert search_index(kb._cpu_index) is kb._cpu_index
