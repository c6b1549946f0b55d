"""Speed of the bridge (for ``kbsc bench`` and the README): µs per image of ``transmit`` with fresh and cached
keys, and slots/s of drawing fresh realizations from the native models side by side with the same models
through the Sionna adapter (:func:`channel_speed`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from kbsc.bridge.bridge import Bridge

__all__ = ["SPEED_PAIRS", "channel_speed", "transmit_speed"]


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


#: (native model, the same family drawn by Sionna) compared by :func:`channel_speed`; cdl-c has no native twin
SPEED_PAIRS = (("tdl-a", "sionna-tdl-a"), ("tdl-c", "cdl-c"))


def channel_speed(slots: int = 64, pairs: tuple[tuple[str, str], ...] = SPEED_PAIRS) -> dict[str, Any]:
    """Slots/s of drawing fresh keys (channel + noise of one default-grid slot each, as ``transmit`` does on
    first use of a key) for each native model and its Sionna counterpart, and their ratio.

    Returns ``{"slots": n, "native": {name: slots/s}, "sionna": {name: slots/s},
    "native_over_sionna": {"tdl-a/sionna-tdl-a": ratio, ...}}``. The Sionna models are built and warmed on
    keys outside the timed ones, so only per-slot cost is timed.
    """
    out: dict[str, Any] = {"slots": int(slots), "native": {}, "sionna": {}, "native_over_sionna": {}}

    def rate(name: str) -> float:
        b = Bridge(name, "perfect", seed=0, cache_slots=1)
        b.realize_numpy(np.arange(2) + (1 << 40), 1)  # build, import and warm up outside the timing
        t = time.perf_counter()
        b.realize_numpy(np.arange(slots), 1)
        return slots / (time.perf_counter() - t)

    with torch.no_grad():
        for native, sionna in pairs:
            out["native"][native] = rate(native)
            out["sionna"][sionna] = rate(sionna)
            out["native_over_sionna"][f"{native}/{sionna}"] = out["native"][native] / out["sionna"][sionna]
    return out
