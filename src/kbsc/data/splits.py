"""Seeded, stable per-class splits (docs/design.md §2).

* :func:`sender_receiver_split`: the test split halved per class: sender (transmitted queries) and
  receiver (the knowledge base), as in KBSC.
* :func:`balanced_subset`: the first n items, class-balanced (which sender images a cell transmits).
* :func:`train_validation_split`: the training split into fit / validation queries / validation knowledge base
  (the KBSC authors hold out 5k + 5k of CIFAR's 50k training images; here the hold-out is per class).

Each class is shuffled by its own generator seeded with ``(seed, class label)``, so a class's halves depend
only on the seed, the class and the positions of that class's images, not on the other classes or on the
order in which anything is computed. Returned index arrays are sorted.
"""

from __future__ import annotations

import numpy as np

from kbsc.errors import ConfigError, DataError

__all__ = ["balanced_subset", "require_per_class", "sender_receiver_split", "train_validation_split"]

_SENDER_RECEIVER = 0x5E4D
_TRAIN_VALIDATION = 0x7A1D


def _class_permutations(labels: np.ndarray, seed: int, purpose: int) -> dict[int, np.ndarray]:
    """For each class: its positions in ``labels``, shuffled by a generator seeded with (seed, class)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be non-negative class indices")
    out: dict[int, np.ndarray] = {}
    for cls in np.unique(labels):
        pos = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([purpose, int(seed), int(cls)])
        out[int(cls)] = pos[rng.permutation(pos.size)]
    return out


def sender_receiver_split(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Halve every class of the test split: ``(sender_idx, receiver_idx)``, int64 sorted positions.

    labels: int ``[N]`` test labels. A class with an odd count gives its extra image to the receiver
    (knowledge base), so every class has as many sender images as the smaller half.
    """
    sender, receiver = [], []
    for perm in _class_permutations(labels, seed, _SENDER_RECEIVER).values():
        half = perm.size // 2
        sender.append(perm[:half])
        receiver.append(perm[half:])
    return _sorted(sender), _sorted(receiver)


def train_validation_split(
    labels: np.ndarray, seed: int = 0, val_query_per_class: int = 5, val_kb_per_class: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the training set per class: ``(fit_idx, val_query_idx, val_kb_idx)``, disjoint, sorted int64.

    Every class gives ``val_query_per_class`` validation queries and ``val_kb_per_class`` validation
    knowledge-base entries; the rest is for fitting. A class with too few images is an error.
    """
    if val_query_per_class < 0 or val_kb_per_class < 0:
        raise ValueError("validation counts per class must be non-negative")
    fit, vq, vkb = [], [], []
    held = val_query_per_class + val_kb_per_class
    for cls, perm in _class_permutations(labels, seed, _TRAIN_VALIDATION).items():
        if perm.size < held + 1:
            raise ValueError(
                f"class {cls} has {perm.size} training images; holding out {val_query_per_class} + "
                f"{val_kb_per_class} for validation needs at least {held + 1}"
            )
        vq.append(perm[:val_query_per_class])
        vkb.append(perm[val_query_per_class:held])
        fit.append(perm[held:])
    return _sorted(fit), _sorted(vq), _sorted(vkb)


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def balanced_subset(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` items, class-balanced (counts differ by ≤ 1), the earliest of each class, sorted.

    Item i of class c with rank r inside its class (in index order) gets the position ``r · C + order(c)``;
    the n smallest positions are taken. Deterministic, and the first n/C per class when C divides n.
    """
    labels = np.asarray(labels)
    if n > len(labels):
        raise ConfigError(f"n_images={n} is more than the {len(labels)} sender images available; lower it")
    classes, inv = np.unique(labels, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    counts = np.bincount(inv, minlength=len(classes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order] = np.arange(len(labels)) - np.repeat(starts, counts)
    pos = rank * len(classes) + inv
    take = np.argsort(pos, kind="stable")[:n]
    return np.sort(take)


def require_per_class(
    labels: np.ndarray, class_names: list[str], minimum: int, where: str, need: str
) -> None:
    """One-line :class:`DataError` naming the first class of ``class_names`` with fewer than ``minimum`` of
    ``labels`` (int ``[N]``) in ``where``; ``need`` says what every class needs."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    short = [(class_names[i], int(n)) for i, n in enumerate(counts) if n < minimum]
    if short:
        name, n = short[0]
        more = f" (and {len(short) - 1} more classes)" if len(short) > 1 else ""
        raise DataError(f"class {name!r} has {n} image(s) in {where}{more}; {need}")
