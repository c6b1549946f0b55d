"""Open the bridge for the semantic path, and the realization seeds and ids used in training.

The keys are :data:`kbsc.bridge.training_keys.SEMANTIC_KEYS` (see that module for why they never overlap the
evaluation keys); :func:`open_bridge` is :func:`kbsc.bridge.training_keys.open_bridge`.

* training:   seed ``TRAIN_SEED_BASE + seed``, id ``TRAIN_ID_BASE + epoch·ID_STRIDE + r``, fresh every epoch.
  Generating a slot's realization costs far more than the codec's step, so by default the images of an epoch
  share a pool of ``train_pool`` realizations (image number i of the epoch's order uses r = i mod pool; the
  bridge keeps the pool in its cache). ``train_pool = 0`` gives every image its own (r = its split id).
* validation: seed ``VAL_SEED_BASE + seed``, id ``VAL_ID_BASE + training-split id`` (fixed across epochs, so
  model selection compares epochs on identical realizations).
"""

from __future__ import annotations

from kbsc.bridge.training_keys import SEMANTIC_KEYS, open_bridge

__all__ = [
    "ID_STRIDE",
    "TRAIN_ID_BASE",
    "TRAIN_SEED_BASE",
    "VAL_ID_BASE",
    "VAL_SEED_BASE",
    "open_bridge",
]

TRAIN_SEED_BASE, VAL_SEED_BASE, TRAIN_ID_BASE, VAL_ID_BASE, ID_STRIDE = SEMANTIC_KEYS.constants()
