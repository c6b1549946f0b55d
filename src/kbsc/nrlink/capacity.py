"""The capacity bound: an image gets through iff its bits ≤ Σ_i log2(1 + SNR·|h_i|²) over its own k data REs.

|h_i|² is the true channel gain of the image's i-th data RE under the same realization the other systems
see (``bridge.realize`` + the grid's frequency-first data-RE order), so the bound is per image and per
realization: an idealised link with Gaussian codebooks, infinite block length and perfect CSI at the
receiver (no estimation loss). It upper-bounds every MCS on the same realizations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["channel_gains", "capacity_bits"]


def channel_gains(bridge, image_ids: np.ndarray, k: int) -> np.ndarray:
    """|h|² float64 ``[B, k]`` of each image's k data REs in transmission order."""
    ids = np.asarray(image_ids, dtype=np.int64)
    s_count = bridge.num_slots(k)
    h, _ = (
        bridge.realize_numpy(ids, s_count)
        if hasattr(bridge, "realize_numpy")
        else bridge.realize(ids, s_count)
    )
    h = np.asarray(h).reshape(len(ids), s_count, -1)
    idx = np.asarray(bridge.rg.data_index)
    g = np.abs(h[:, :, idx].reshape(len(ids), -1)[:, :k]) ** 2
    return g.astype(np.float64)


def capacity_bits(bridge, image_ids: np.ndarray, k: int, snr_db: float) -> np.ndarray:
    """Σ log2(1 + SNR·|h_i|²) float64 ``[B]`` over each image's k data REs."""
    snr = 10.0 ** (float(snr_db) / 10.0)
    return np.log2(1.0 + snr * channel_gains(bridge, image_ids, k)).sum(axis=1)
