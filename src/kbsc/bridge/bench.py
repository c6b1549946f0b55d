"""Transmit speed of the bridge (for ``kbsc bench`` and the README): µs per image, fresh and cached keys."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from kbsc.bridge.bridge import Bridge

__all__ = ["transmit_speed"]


def transmit_speed(
    channel: str = "rayleigh", csi: str = "perfect", k: int = 128, batch: int = 256, repeats: int = 3
) -> dict[str, Any]:
    """Best-of-``repeats`` time of one ``transmit`` of ``batch`` images × ``k`` symbols.

    fresh: keys never seen (realizations drawn, as in training with new ids every step);
    cached: the same keys again (realizations from the bridge's LRU cache). The fingerprint is not read.
    """
    b = Bridge(channel, csi, seed=0, cache_slots=max(2048, 2 * batch * -(-k // 864)))
    x = torch.randn(batch, k, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    fresh, cached = [], []
    ids = np.arange(batch)
    with torch.no_grad():
        for rep in range(repeats):
            ids = np.arange(batch) + (rep + 1) * 10 * batch
            t = time.perf_counter()
            b.transmit(x, ids, 5.0)
            fresh.append(time.perf_counter() - t)
        for _ in range(repeats):
            t = time.perf_counter()
            b.transmit(x, ids, 5.0)
            cached.append(time.perf_counter() - t)
    return {
        "channel": channel,
        "csi": csi,
        "k": k,
        "batch": batch,
        "us_per_image_fresh": min(fresh) / batch * 1e6,
        "us_per_image_cached": min(cached) / batch * 1e6,
        "torch_threads": torch.get_num_threads(),
    }
