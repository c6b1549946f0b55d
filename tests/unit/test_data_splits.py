"""Sender/receiver and train/validation splits: determinism, per-class halves, disjointness, stability."""

from __future__ import annotations

import numpy as np
import pytest

from kbsc.data import sender_receiver_split, train_validation_split


def labels_of(counts, seed=0):
    """Shuffled labels with ``counts[c]`` images of class c."""
    lab = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(lab)


def test_sender_receiver_halves():
    labels = labels_of([10, 10, 8, 7])
    s, r = sender_receiver_split(labels, seed=0)
    assert s.dtype == r.dtype == np.int64
    assert np.all(np.diff(s) > 0) and np.all(np.diff(r) > 0)  # sorted, unique
    assert np.intersect1d(s, r).size == 0 and np.union1d(s, r).tolist() == list(range(len(labels)))
    assert np.bincount(labels[s]).tolist() == [5, 5, 4, 3]
    assert np.bincount(labels[r]).tolist() == [5, 5, 4, 4]  # odd class: the extra image stays in the KB


def test_sender_receiver_deterministic_and_seeded():
    labels = labels_of([100] * 20)
    a, b = sender_receiver_split(labels, 0), sender_receiver_split(labels, 0)
    c = sender_receiver_split(labels, 1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_sender_receiver_stable_when_other_classes_change():
    labels = labels_of([6, 6, 6])
    s, _ = sender_receiver_split(labels, 3)
    more = np.concatenate([labels, np.full(10, 3), np.full(4, 7)])  # new classes appended
    s2, _ = sender_receiver_split(more, 3)
    assert np.array_equal(s2[s2 < len(labels)], s)


def test_train_validation_split():
    labels = labels_of([30, 20, 12])
    fit, vq, vkb = train_validation_split(labels, seed=0, val_query_per_class=5, val_kb_per_class=4)
    assert np.bincount(labels[vq]).tolist() == [5, 5, 5]
    assert np.bincount(labels[vkb]).tolist() == [4, 4, 4]
    assert np.bincount(labels[fit]).tolist() == [21, 11, 3]
    allidx = np.concatenate([fit, vq, vkb])
    assert np.unique(allidx).size == allidx.size == len(labels)
    again = train_validation_split(labels, seed=0, val_query_per_class=5, val_kb_per_class=4)
    assert all(np.array_equal(x, y) for x, y in zip((fit, vq, vkb), again, strict=True))
    other = train_validation_split(labels, seed=1, val_query_per_class=5, val_kb_per_class=4)
    assert not np.array_equal(vq, other[1])
    with pytest.raises(ValueError, match="class 2 has 12"):
        train_validation_split(labels, val_query_per_class=6, val_kb_per_class=6)
