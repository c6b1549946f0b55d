"""Open the bridge for the semantic path, and the realization seeds and ids used in training.

Evaluation uses the cell's seed and the sender images' ids, exactly as every other system does, so the
fingerprints match. Training and validation must never reuse evaluation realizations, so they draw from
disjoint seeds AND disjoint image ids (training-split ids restart at 0 and would collide with test ids):

* training:   seed ``TRAIN_SEED_BASE + seed``, id ``TRAIN_ID_BASE + epoch·ID_STRIDE + r``, fresh every epoch.
  Generating a slot's realization costs far more than the codec's step, so by default the images of an epoch
  share a pool of ``train_pool`` realizations (image number i of the epoch's order uses r = i mod pool; the
  bridge keeps the pool in its cache). ``train_pool = 0`` gives every image its own (r = its split id).
* validation: seed ``VAL_SEED_BASE + seed``, id ``VAL_ID_BASE + training-split id`` (fixed across epochs, so
  model selection compares epochs on identical realizations).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ID_STRIDE",
    "TRAIN_ID_BASE",
    "TRAIN_SEED_BASE",
    "VAL_ID_BASE",
    "VAL_SEED_BASE",
    "open_bridge",
]

TRAIN_SEED_BASE = 1_000_000
VAL_SEED_BASE = 2_000_000
TRAIN_ID_BASE = 1 << 40
VAL_ID_BASE = 1 << 41
ID_STRIDE = 1 << 24


def open_bridge(
    channel: str, csi: str, seed: int, grid: dict[str, Any] | None = None, cache_slots: int | None = None
) -> Any:
    """A :class:`kbsc.bridge.Bridge` for (channel, CSI, seed); ``grid`` = the experiment's grid mapping."""
    from kbsc.bridge import Bridge

    kw = {} if cache_slots is None else {"cache_slots": int(cache_slots)}
    grid = {k: v for k, v in grid.items() if v is not None} if grid else None
    return Bridge(channel=channel, csi=csi, seed=int(seed), grid=grid, **kw)
