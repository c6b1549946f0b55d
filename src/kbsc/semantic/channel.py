"""Open the bridge for the semantic path, and the realization seeds and ids used in training.

Evaluation uses the cell's seed and the sender images' ids, exactly as every other system does, so the
fingerprints match. Training and validation must never reuse evaluation realizations, so they draw from
disjoint seeds AND disjoint image ids (training-split ids restart at 0 and would collide with test ids):

* training:   seed ``TRAIN_SEED_BASE + seed``, id ``TRAIN_ID_BASE + epoch·ID_STRIDE + training-split id``
  (a fresh realization of every training image in every epoch);
* validation: seed ``VAL_SEED_BASE + seed``, id ``VAL_ID_BASE + training-split id`` (fixed across epochs, so
  model selection compares epochs on identical realizations).
"""

from __future__ import annotations

from typing import Any

from kbsc.errors import ConfigError

__all__ = [
    "ID_STRIDE",
    "TRAIN_ID_BASE",
    "TRAIN_SEED_BASE",
    "VAL_ID_BASE",
    "VAL_SEED_BASE",
    "grid_config",
    "open_bridge",
]

TRAIN_SEED_BASE = 1_000_000
VAL_SEED_BASE = 2_000_000
TRAIN_ID_BASE = 1 << 40
VAL_ID_BASE = 1 << 41
ID_STRIDE = 1 << 24


def grid_config(grid: dict[str, Any] | None) -> Any:
    """The bridge's ``GridConfig`` from an experiment's ``grid`` mapping (None → the bridge default)."""
    from kbsc.bridge import GridConfig

    if not grid:
        return GridConfig()
    try:
        return GridConfig(**{k: v for k, v in grid.items() if v is not None})
    except TypeError as exc:
        raise ConfigError(f"grid settings not understood by the bridge: {exc}") from None


def open_bridge(channel: str, csi: str, seed: int, grid: dict[str, Any] | None = None) -> Any:
    """A :class:`kbsc.bridge.Bridge` for one (channel, CSI, seed)."""
    try:
        from kbsc.bridge import Bridge
    except ImportError:
        return DevAWGN(channel, csi, seed)
    return Bridge(channel=channel, csi=csi, seed=int(seed), grid=grid_config(grid))


class _DevOutput:
    def __init__(self, y: Any, noise_var: Any, fingerprint: str) -> None:
        self.y, self.noise_var, self.fingerprint = y, noise_var, fingerprint


class DevAWGN:
    """Stand-in AWGN bridge used ONLY while ``kbsc.bridge.Bridge`` does not exist (same interface and
    keying)."""

    def __init__(self, channel: str, csi: str, seed: int, grid: Any = None) -> None:
        if channel != "awgn":
            raise ConfigError(f"channel {channel!r} needs kbsc.bridge, which is not installed yet")
        self.seed = int(seed)

    def _noise(self, ids: Any, k: int) -> Any:
        import numpy as np
        import torch

        rows = []
        for i in np.asarray(ids, dtype=np.int64).tolist():
            g = np.random.Generator(np.random.Philox(key=(self.seed << 64) + int(i)))
            rows.append(g.standard_normal((k, 2)) / np.sqrt(2.0))
        z = torch.from_numpy(np.stack(rows).astype(np.float32))
        return torch.complex(z[..., 0].contiguous(), z[..., 1].contiguous())

    def transmit(self, x: Any, image_ids: Any, snr_db: Any) -> _DevOutput:
        import torch

        nv = torch.as_tensor(10.0 ** (-torch.as_tensor(snr_db, dtype=torch.float32) / 10.0))
        nv = nv.reshape(-1, 1).expand(x.shape[0], x.shape[1]).contiguous()
        y = x + torch.sqrt(nv) * self._noise(image_ids, x.shape[1])
        return _DevOutput(y, nv, self.fingerprint(image_ids, x.shape[1]))

    def fingerprint(self, image_ids: Any, k: int) -> str:
        import numpy as np

        from kbsc.util import hash_obj

        return hash_obj(["dev-awgn", self.seed, int(k), np.asarray(image_ids).tolist()])
