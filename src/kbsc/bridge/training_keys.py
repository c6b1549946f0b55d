"""Training realization keys: the seeds and image ids the learned systems train and validate on, which never
overlap the evaluation keys; and :func:`open_bridge`, the one way the learned systems open the bridge.

Evaluation uses the cell's seed and the sender images' ids, exactly as every other system does, so the
realization fingerprints match. Training and validation must never reuse evaluation realizations, so they
draw from disjoint seeds AND disjoint image ids (training-split ids restart at 0 and would otherwise collide
with test ids):

* training:   seed ``train_seed_base + seed``, id ``train_id_base + step·id_stride + r`` (a fresh realization
  at every step or epoch; what ``r`` is depends on the family, see its ``channel`` module);
* validation: seed ``val_seed_base + seed``, id ``val_id_base + training-split id`` (fixed, so model selection
  compares on identical realizations).

Each learned family has its own bases (:data:`SEMANTIC_KEYS`, :data:`JSCC_KEYS`), so the families' training
realizations differ too. Trained checkpoints are cached by hash and assume these exact realizations: never
change the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kbsc.bridge import Bridge
from kbsc.bridge.channel_spec import parse_channel
from kbsc.bridge.channels import CHANNELS
from kbsc.bridge.grid import GridConfig
from kbsc.errors import DataError

__all__ = ["JSCC_KEYS", "SEMANTIC_KEYS", "TrainingKeys", "open_bridge"]


@dataclass(frozen=True)
class TrainingKeys:
    """The seed and image-id bases of one family's training and validation realizations."""

    train_seed_base: int
    val_seed_base: int
    train_id_base: int
    val_id_base: int
    id_stride: int = 1 << 24

    def constants(self) -> tuple[int, int, int, int, int]:
        """``(TRAIN_SEED_BASE, VAL_SEED_BASE, TRAIN_ID_BASE, VAL_ID_BASE, ID_STRIDE)``: the names each
        family's ``channel`` module exports."""
        return self.train_seed_base, self.val_seed_base, self.train_id_base, self.val_id_base, self.id_stride


#: the semantic (KB) codecs, :mod:`kbsc.semantic.channel`
SEMANTIC_KEYS = TrainingKeys(
    train_seed_base=1_000_000, val_seed_base=2_000_000, train_id_base=1 << 40, val_id_base=1 << 41
)
#: the learned pixel JSCC systems, :mod:`kbsc.jscc.channel`
JSCC_KEYS = TrainingKeys(
    train_seed_base=3_000_000, val_seed_base=4_000_000, train_id_base=3 << 40, val_id_base=1 << 43
)


#: the smallest training/validation seed: below it a seed is an evaluation seed
MIN_TRAINING_SEED = min(min(k.train_seed_base, k.val_seed_base) for k in (SEMANTIC_KEYS, JSCC_KEYS))


def open_bridge(channel: str, csi: str, seed: int, grid: Any = None, cache_slots: int | None = None) -> Any:
    """A :class:`kbsc.bridge.Bridge` for (channel label, CSI, seed): every system's and every training
    loop's way to the bridge, so channel options (``tdl-a[speed=30]``, :mod:`kbsc.bridge.channel_spec`)
    reach all of them.

    ``grid``: the experiment's grid mapping (entries set to None are dropped; empty/None → the bridge
    default) or a ready :class:`kbsc.bridge.GridConfig`; ``cache_slots`` None → the bridge default.

    ``import:PATH``: with the file's seed, a bridge that transmits from the file (evaluation; the cell's
    image ids and slots must be in it; another evaluation seed is refused). With a training or validation
    seed (≥ :data:`MIN_TRAINING_SEED`, never in the file) a bridge that draws from the file's channel model
    and options, so learned systems train on the channel they are evaluated on; a file of a channel this
    kbsc does not know cannot train (one-line error).
    """

    kw: dict[str, Any] = {} if cache_slots is None else {"cache_slots": int(cache_slots)}
    spec = parse_channel(channel)
    if spec.import_path is None:
        return Bridge(channel=spec.name, csi=csi, seed=int(seed), grid=grid, **spec.options, **kw)
    bridge = Bridge.from_export(spec.import_path, csi=csi)
    if not GridConfig.is_default_request(grid) and GridConfig.from_mapping(grid) != bridge.grid:
        raise DataError(f"{spec.import_path}: its resource grid differs from the experiment's grid")
    if int(seed) == bridge.seed:
        return bridge
    if int(seed) < MIN_TRAINING_SEED:
        raise DataError(
            f"{spec.import_path} holds the realizations of seed {bridge.seed}, the cell asks for seed {seed}"
        )

    if bridge.channel not in CHANNELS:
        raise DataError(
            f"{spec.import_path}: channel {bridge.channel!r} is not known here, so a learned system cannot "
            "train on it (load the plug-in that defines it)"
        )
    opts = bridge.channel_config()["channel_options"]
    return Bridge(channel=bridge.channel, csi=csi, seed=int(seed), grid=bridge.grid, **opts, **kw)
