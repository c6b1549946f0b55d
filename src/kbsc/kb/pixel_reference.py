"""A reference an extractor must beat: nearest neighbour on raw pixels, on the same sender/receiver split.

If a learned extractor does not retrieve clearly better than comparing the pixels themselves, it has not
learnt (or the dataset is one where pixels suffice); ``kbsc prepare`` prints both and warns.
"""

from __future__ import annotations

import numpy as np

from kbsc.data.splits import balanced_subset

__all__ = ["raw_pixel_top1"]


def raw_pixel_top1(
    query_images: np.ndarray,
    query_labels: np.ndarray,
    kb_images: np.ndarray,
    kb_labels: np.ndarray,
    max_queries: int = 1000,
    chunk: int = 256,
) -> tuple[float, int]:
    """Top-1 accuracy of Euclidean nearest neighbour on raw pixels, and the number of queries used.

    query_images uint8 ``[Q, H, W, 3]`` with labels ``[Q]``; kb_images ``[M, H, W, 3]`` with labels ``[M]``.
    At most ``max_queries`` queries, class-balanced (the earliest of each class), to bound the cost.
    """
    q_labels = np.asarray(query_labels)
    take = balanced_subset(q_labels, min(max_queries, len(q_labels)))
    q = np.asarray(query_images)[take].reshape(len(take), -1).astype(np.float32) / 255.0
    kb = np.asarray(kb_images).reshape(len(kb_images), -1).astype(np.float32) / 255.0
    kb_sq = (kb * kb).sum(1)
    hits = 0
    kb_labels = np.asarray(kb_labels)
    for s in range(0, len(q), chunk):
        d = kb_sq[None, :] - 2.0 * q[s : s + chunk] @ kb.T  # ‖q‖² is constant per row
        hits += int((kb_labels[d.argmin(axis=1)] == q_labels[take[s : s + chunk]]).sum())
    return hits / max(len(take), 1), len(take)
