"""Export realizations to a file and transmit from them elsewhere (an outside codebase, a later run).

Schema (``.npz``; the same names as datasets of an ``.h5``/``.hdf5`` file, strings and scalars as attributes):

==================  ===================  ===========================================================
name                type / shape         meaning
==================  ===================  ===========================================================
schema              str                  ``"kbsc-bridge-realizations/1"``
config_json         str                  JSON of ``Bridge.config()``: seed, channel, channel_options,
                                         grid (``GridConfig`` fields), csi, equalizer
image_ids           int64 ``[B]``        image ids (realization-key component), no duplicates
k                   int64 scalar         data symbols per image the export was made for
num_slots           int64 scalar         S = ceil(k / D) slots per image
h                   complex64            channel frequency response of slot s of image b on every RE
                    ``[B, S, T, F]``     (OFDM symbol t, subcarrier f); E|h|² = 1
noise               complex64            unit-variance complex noise on every RE (pilots included);
                    ``[B, S, T, F]``     the receiver sees r = h·x + √N0·noise, N0 = 10^(−SNR/10)
data_positions      int64 ``[D, 2]``     (t, f) of the data REs in their fixed order: symbol i of an
                                         image goes to slot i // D at data_positions[i % D]
pilot_positions     int64 ``[P, 2]``     (t, f) of the pilots
pilot_values        complex64 ``[P]``    the unit-modulus pilot symbols
fingerprint         str                  ``Bridge.fingerprint(image_ids, k)``
==================  ===================  ===========================================================

:func:`load_realizations` checks schema, shapes and RE order and returns the file's :class:`Realizations`;
``Bridge.from_export`` (:mod:`kbsc.bridge.bridge`) builds a bridge that draws nothing: it transmits from the
file's arrays, refuses keys the file does not hold and checks the fingerprint. This module never imports the
bridge (it receives one to export), so the two do not import each other.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.bridge.channels.base import ChannelModel
from kbsc.bridge.grid import ResourceGrid
from kbsc.bridge.ids import as_ids
from kbsc.errors import ConfigError, DataError
from kbsc.util import atomic_write_bytes

__all__ = [
    "SCHEMA",
    "ImportedChannel",
    "Realizations",
    "export_realizations",
    "load_realizations",
    "read_export",
]

SCHEMA = "kbsc-bridge-realizations/1"
_STRINGS = ("schema", "config_json", "fingerprint")
_SCALARS = ("k", "num_slots")


def _is_h5(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5")


def export_realizations(bridge: Any, path: str | Path, image_ids: Any, k: int) -> Path:
    """Write the realizations of ``image_ids`` with ``k`` symbols each (see the module docstring)."""
    path = Path(path)
    ids = as_ids(image_ids)
    if len(np.unique(ids)) != len(ids):
        raise ConfigError("image_ids to export contain duplicates")
    s_count = bridge.num_slots(k)
    h, n = bridge.realize_numpy(ids, s_count)
    rg = bridge.rg
    arrays: dict[str, Any] = {
        "schema": SCHEMA,
        "config_json": json.dumps(bridge.config(), sort_keys=True),
        "image_ids": ids,
        "k": np.int64(k),
        "num_slots": np.int64(s_count),
        "h": h,
        "noise": n,
        "data_positions": rg.data_positions,
        "pilot_positions": rg.pilot_positions,
        "pilot_values": rg.pilot_values.astype(np.complex64),
        "fingerprint": bridge.fingerprint(ids, k),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_h5(path):
        import h5py

        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                for key, val in arrays.items():
                    if key in _STRINGS or key in _SCALARS:
                        f.attrs[key] = val
                    else:
                        f.create_dataset(key, data=val)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        if path.suffix.lower() != ".npz":
            raise ConfigError(f"export path must end in .npz, .h5 or .hdf5, got {path.name}")
        buf = io.BytesIO()
        np.savez_compressed(buf, **{key: np.asarray(v) for key, v in arrays.items()})
        atomic_write_bytes(path, buf.getvalue())
    return path


def read_export(path: str | Path) -> dict[str, Any]:
    """The raw contents of an export file (strings as ``str``, scalars as ``int``), schema-checked."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"realization file {path} not found")
    out: dict[str, Any] = {}
    try:
        if _is_h5(path):
            import h5py

            with h5py.File(path, "r") as f:
                for key in f:
                    out[key] = np.asarray(f[key][()])
                for key, val in f.attrs.items():
                    out[key] = val.decode() if isinstance(val, bytes) else val
        else:
            with np.load(path, allow_pickle=False) as f:
                out = {key: f[key] for key in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable realization file ({exc})") from None
    for key in _STRINGS:
        if key in out:
            out[key] = str(np.asarray(out[key]).item() if np.ndim(out[key]) == 0 else out[key])
    for key in _SCALARS:
        if key in out:
            out[key] = int(np.asarray(out[key]).item())
    missing = [
        key
        for key in ("schema", "config_json", "image_ids", "k", "num_slots", "h", "noise", "data_positions")
        if key not in out
    ]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; not a kbsc bridge export")
    if out["schema"] != SCHEMA:
        raise DataError(f"{path} has schema {out['schema']!r}; this kbsc reads {SCHEMA!r}")
    return out


@dataclass
class Realizations:
    """The checked contents of an export file.

    config: ``Bridge.config()`` of the exporting bridge; image_ids int64 ``[B]``; h, noise complex64
    ``[B, S, T, F]``; k: symbols per image; fingerprint: the exporter's (may be empty).
    """

    path: Path
    config: dict[str, Any]
    image_ids: np.ndarray
    k: int
    h: np.ndarray
    noise: np.ndarray
    data_positions: np.ndarray
    fingerprint: str

    @property
    def num_slots(self) -> int:
        return int(self.h.shape[1])

    def check_grid(self, rg: ResourceGrid, where: Any = None) -> None:
        """Refuse (DataError) if the arrays do not fit the resource grid ``rg``."""
        where = where or self.path
        shape = (len(self.image_ids), self.num_slots, *rg.shape)
        if self.h.shape != shape or self.noise.shape != shape:
            raise DataError(
                f"{where}: h/noise have shapes {self.h.shape}/{self.noise.shape}, expected {shape}"
            )
        if not np.array_equal(self.data_positions, rg.data_positions):
            raise DataError(
                f"{where}: the data RE order differs from this kbsc's grid; re-export with this version"
            )

    def slots(self) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """(image id, slot) → (h, noise) ``[T, F]`` each."""
        return {
            (int(i), s): (self.h[b, s], self.noise[b, s])
            for b, i in enumerate(self.image_ids.tolist())
            for s in range(self.num_slots)
        }


def load_realizations(path: str | Path) -> Realizations:
    """Read and check an export file (schema, dtypes, duplicate ids); the grid is checked by the bridge."""
    path = Path(path)
    data = read_export(path)
    try:
        cfg = json.loads(data["config_json"])
        if not isinstance(cfg, dict) or not isinstance(cfg.get("channel"), str):
            raise ValueError("no channel name")
    except ValueError as exc:
        raise DataError(f"{path}: configuration not understood ({exc})") from None
    ids = np.asarray(data["image_ids"]).astype(np.int64).reshape(-1)
    h, n = np.asarray(data["h"]), np.asarray(data["noise"])
    if h.dtype != np.complex64 or n.dtype != np.complex64:
        raise DataError(f"{path}: h and noise must be complex64, got {h.dtype}/{n.dtype}")
    if h.ndim != 4 or h.shape[:2] != (len(ids), int(data["num_slots"])):
        raise DataError(f"{path}: h has shape {h.shape}, expected [{len(ids)}, {data['num_slots']}, T, F]")
    if len(np.unique(ids)) != len(ids):
        raise DataError(f"{path}: image_ids has duplicates")
    return Realizations(
        path=path,
        config=cfg,
        image_ids=ids,
        k=int(data["k"]),
        h=h,
        noise=n,
        data_positions=np.asarray(data["data_positions"]),
        fingerprint=str(data.get("fingerprint", "")),
    )


class ImportedChannel(ChannelModel):
    """Stand-in model of an imported file whose channel this kbsc does not know (e.g. a plug-in's): it never
    draws (the bridge reads the file), and its covariance for LMMSE estimation is the empirical covariance of
    the file's slots."""

    name = "imported"

    def __init__(self, rg: ResourceGrid, realizations: Realizations) -> None:
        super().__init__(rg)
        self.realizations = realizations

    def slot_response(self, gen: np.random.Generator | None) -> np.ndarray:
        raise DataError("an imported channel only transmits keys its file holds")

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h = self.realizations.h.reshape(-1, *self.rg.shape).astype(np.complex128)  # [N, T, F]
        ha, hb = h[:, a[:, 0], a[:, 1]], h[:, b[:, 0], b[:, 1]]
        return ha.T @ hb.conj() / max(1, len(h))

    def options(self) -> dict[str, Any]:
        return dict(self.realizations.config.get("channel_options", {}))
