"""Knowledge base: exact search, input handling, save/load round trip, manifest and corruption refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError, DataError
from kbsc.kb import KnowledgeBase


def unit_rows(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    feats = unit_rows(600, 16, 0)
    labels = np.random.default_rng(1).integers(0, 12, 600)
    queries = unit_rows(40, 16, 2)
    return feats, labels, queries


def test_flat_search_is_exact(data):
    feats, labels, queries = data
    kb = KnowledgeBase(feats, labels, ids=np.arange(600) + 1000)
    scores, idx = kb.search(queries, 5)
    assert scores.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (40, 5)
    brute = queries @ feats.T
    assert np.array_equal(idx, np.argsort(-brute, axis=1)[:, :5])
    assert np.allclose(scores, np.take_along_axis(brute, idx, 1), atol=1e-5)
    assert np.array_equal(kb.retrieve_labels(queries, k=3), labels[idx[:, :3]])
    assert np.array_equal(kb.retrieve_ids(queries, k=1)[:, 0], idx[:, 0] + 1000)
    # An unnormalized query ranks like its normalized version (inner product on unit KB rows).
    assert np.array_equal(kb.search(3 * queries, 5)[1], idx)


def test_inputs_are_converted_and_checked(data):
    feats, labels, queries = data
    kb = KnowledgeBase(feats, labels)
    ref = kb.search(queries, 4)[1]
    assert np.array_equal(kb.search(queries.astype(np.float64), 4)[1], ref)
    assert np.array_equal(kb.search(torch.from_numpy(queries), 4)[1], ref)
    with pytest.raises(ValueError, match="dimension 8 but the knowledge base holds 16-d"):
        kb.search(queries[:, :8], 1)
    with pytest.raises(ValueError, match="2-d"):
        kb.search(queries[0], 1)
    with pytest.raises(ValueError, match="L2-normalized"):
        KnowledgeBase(feats * 2, labels)
    with pytest.raises(ValueError, match="labels"):
        KnowledgeBase(feats, labels[:-1])
    tiny = KnowledgeBase(feats[:3], labels[:3])
    got = tiny.retrieve_labels(queries[:2], k=5)
    assert (got[:, 3:] == -1).all() and (got[:, :3] >= 0).all()  # fewer entries than k → -1


def test_index_kinds_and_options(data):
    feats, labels, queries = data
    exact = KnowledgeBase(feats, labels).search(queries, 1)[1]
    ivf = KnowledgeBase(feats, labels, index="ivf", nlist=8, nprobe=8)  # all cells probed: exact
    assert ivf.index_options == {"nlist": 8, "nprobe": 8}
    assert np.array_equal(ivf.search(queries, 1)[1], exact)
    hnsw = KnowledgeBase(feats, labels, index="hnsw", M=16, efSearch=128)
    assert (hnsw.search(queries, 1)[1] == exact).mean() > 0.9
    with pytest.raises(ConfigError, match="unknown knowledge-base index 'lsh'"):
        KnowledgeBase(feats, labels, index="lsh")
    with pytest.raises(ConfigError, match="unknown option.*nprobe.*flat"):
        KnowledgeBase(feats, labels, nprobe=3)
    with pytest.raises(ConfigError, match="nlist"):
        KnowledgeBase(feats, labels, index="ivf", nlist=0)


MANIFEST = {"dataset": "synthetic100", "extractor_fingerprint": "standin-abc", "split_seed": 0}


@pytest.mark.parametrize("kind, opts", [("flat", {}), ("ivf", {"nlist": 6, "nprobe": 2}), ("hnsw", {"M": 8})])
def test_save_load_round_trip(tmp_path, data, kind, opts):
    feats, labels, queries = data
    kb = KnowledgeBase(feats, labels, index=kind, ids=np.arange(600) * 3, **opts)
    kb.save(tmp_path / "kb", MANIFEST)
    back = KnowledgeBase.load(tmp_path / "kb", expected=MANIFEST)
    for k in (1, 5):
        s1, i1 = kb.search(queries, k)
        s2, i2 = back.search(queries, k)
        assert np.array_equal(i1, i2) and np.array_equal(s1, s2)
    assert np.array_equal(back.ids, kb.ids) and np.array_equal(back.labels, kb.labels)
    assert back.index_kind == kind and back.index_options == kb.index_options
    stored = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    assert stored["index"] == kind and stored["content_hash"] == kb.content_hash and stored["n"] == 600
    assert {k: stored[k] for k in MANIFEST} == MANIFEST
    # Saving again replaces the folder atomically and leaves no temporary siblings.
    kb.save(tmp_path / "kb", MANIFEST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kb"]


def test_mismatched_missing_and_corrupt_are_refused(tmp_path, data):
    feats, labels, _ = data
    KnowledgeBase(feats, labels).save(tmp_path / "kb", MANIFEST)
    with pytest.raises(DataError, match=r"split_seed: stored 0, expected 1"):
        KnowledgeBase.load(tmp_path / "kb", {**MANIFEST, "split_seed": 1})
    with pytest.raises(DataError, match="no knowledge base at"):
        KnowledgeBase.load(tmp_path / "other")
    np.save(tmp_path / "kb" / "labels.npy", labels[::-1].copy())
    with pytest.raises(DataError, match="corrupt.*labels.npy"):
        KnowledgeBase.load(tmp_path / "kb", MANIFEST)
    (tmp_path / "kb" / "manifest.json").unlink()
    with pytest.raises(DataError, match="no manifest"):
        KnowledgeBase.load(tmp_path / "kb")
    with pytest.raises(ValueError, match="contradict"):
        KnowledgeBase(feats, labels).save(tmp_path / "kb2", {"index": "hnsw"})


def _rewrite_file_hash(directory, name: str) -> None:
    """What an attacker who also edits the manifest does: make the per-file hash match the new file."""
    from kbsc.util import hash_file

    m = json.loads((directory / "manifest.json").read_text())
    m["files"][name] = hash_file(directory / name, 32)
    (directory / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_an_index_built_from_shuffled_features_is_refused(tmp_path, data, kind):
    import faiss

    feats, labels, _ = data
    kb = KnowledgeBase(feats, labels, index=kind)
    kb.save(tmp_path / "kb", MANIFEST)
    perm = np.random.default_rng(1).permutation(len(feats))
    shuffled = KnowledgeBase(feats[perm], labels, index=kind)
    faiss.write_index(shuffled._cpu_index, str(tmp_path / "kb" / "index.faiss"))
    with pytest.raises(DataError, match="corrupt.*index.faiss"):  # the file hash catches it first
        KnowledgeBase.load(tmp_path / "kb", MANIFEST)
    _rewrite_file_hash(tmp_path / "kb", "index.faiss")
    with pytest.raises(DataError, match="content hash"):  # the content hash now covers the index
        KnowledgeBase.load(tmp_path / "kb", MANIFEST)
    m = json.loads((tmp_path / "kb" / "manifest.json").read_text())
    kb._cpu_index = shuffled._cpu_index  # the hash an attacker would write: saved arrays, shuffled index
    m["content_hash"] = kb.content_hash
    (tmp_path / "kb" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match="does not hold the saved features"):  # and the vectors are checked
        KnowledgeBase.load(tmp_path / "kb", MANIFEST)


def test_flipped_bytes_in_the_index_are_refused(tmp_path, data):
    feats, labels, _ = data
    KnowledgeBase(feats, labels).save(tmp_path / "kb", MANIFEST)
    path = tmp_path / "kb" / "index.faiss"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55  # inside the stored vectors
    path.write_bytes(bytes(raw))
    _rewrite_file_hash(tmp_path / "kb", "index.faiss")
    with pytest.raises(DataError, match="content hash"):
        KnowledgeBase.load(tmp_path / "kb", MANIFEST)


def test_content_hash_depends_on_the_index(data):
    feats, labels, _ = data
    flat = KnowledgeBase(feats, labels).content_hash
    assert KnowledgeBase(feats, labels).content_hash == flat
    assert KnowledgeBase(feats, labels, index="hnsw").content_hash != flat
