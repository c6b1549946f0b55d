"""Open the bridge for the learned pixel JSCC systems, and the realization seeds/ids used in training.

The keys are :data:`kbsc.bridge.training_keys.JSCC_KEYS` (see that module for why they never overlap the
evaluation keys, and differ from the semantic family's):

* training:   seed ``TRAIN_SEED_BASE + seed``, id ``TRAIN_ID_BASE + step·ID_STRIDE + training-split id`` (a
  fresh realization for every image at every step);
* validation: seed ``VAL_SEED_BASE + seed``, id ``VAL_ID_BASE + training-split id`` (fixed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kbsc.bridge.training_keys import JSCC_KEYS
from kbsc.bridge.training_keys import open_bridge as _open_bridge
from kbsc.errors import ConfigError
from kbsc.util import hash_obj

__all__ = [
    "ID_STRIDE",
    "TRAIN_ID_BASE",
    "TRAIN_SEED_BASE",
    "VAL_ID_BASE",
    "VAL_SEED_BASE",
    "LocalAWGN",
    "grid_config",
    "open_bridge",
]

TRAIN_SEED_BASE = JSCC_KEYS.train_seed_base
VAL_SEED_BASE = JSCC_KEYS.val_seed_base
TRAIN_ID_BASE = JSCC_KEYS.train_id_base
VAL_ID_BASE = JSCC_KEYS.val_id_base
ID_STRIDE = JSCC_KEYS.id_stride


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
    """A :class:`kbsc.bridge.Bridge` for (channel, CSI, seed); ``"local-awgn"`` → :class:`LocalAWGN`."""
    if channel == "local-awgn":
        return LocalAWGN(seed)
    return _open_bridge(channel, csi, seed, grid_config(grid))


class _Output:
    def __init__(self, y: torch.Tensor, noise_var: torch.Tensor, fingerprint: str) -> None:
        self.y, self.noise_var, self.fingerprint = y, noise_var, fingerprint


class LocalAWGN:
    """A keyed complex AWGN channel with the bridge's ``transmit``/``fingerprint`` interface.

    For unit tests and tiny experiments only (channel name ``local-awgn``): the unit noise of image ``i`` is a
    pure function of ``(seed, i)`` (Philox), so it does not depend on the batch. No OFDM grid, no estimation.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def _unit_noise(self, ids: Any, k: int) -> torch.Tensor:
        rows = []
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            g = np.random.Generator(np.random.Philox(key=(self.seed << 64) + (int(i) & ((1 << 64) - 1))))
            rows.append(g.standard_normal((k, 2)) / np.sqrt(2.0))
        z = torch.from_numpy(np.stack(rows).astype(np.float32))
        return torch.complex(z[..., 0].contiguous(), z[..., 1].contiguous())

    def transmit(self, x: torch.Tensor, image_ids: Any, snr_db: Any) -> _Output:
        """x complex ``[B, k]`` with E|x|² = 1 → y = x + n, n ~ CN(0, 10^(-snr/10)); noise_var ``[B, k]``."""
        b, k = x.shape
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=x.device).reshape(-1)
        nv = (10.0 ** (-snr / 10.0)).expand(b).reshape(b, 1).expand(b, k).contiguous()
        y = x + torch.sqrt(nv) * self._unit_noise(image_ids, k).to(x.device)  # noise drawn on the CPU
        return _Output(y, nv, self.fingerprint(image_ids, k))

    def fingerprint(self, image_ids: Any, k: int) -> str:
        return hash_obj(["local-awgn", self.seed, int(k), np.asarray(image_ids).reshape(-1).tolist()])
