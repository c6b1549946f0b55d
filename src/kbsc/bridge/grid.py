"""The OFDM slot: resource grid configuration, pilot pattern and the fixed order of data resource elements.

One *slot* is ``num_ofdm_symbols × num_subcarriers`` resource elements (REs). Guard subcarriers, the DC
subcarrier (optional) and pilots are overhead; every other RE is a data RE = one channel use
(docs/design.md §2).
Pilots occupy the OFDM symbols ``pilot_ofdm_symbols`` on every ``pilot_subcarrier_step``-th usable subcarrier
(a single-antenna, Kronecker-style pattern like Sionna's ``PilotPattern``); the other REs of those symbols
carry data. Pilot values are a fixed unit-power QPSK sequence (a function of the grid only).

Data REs are used *frequency first*: subcarriers of OFDM symbol 0, then symbol 1, …, skipping pilots, guards
and DC (the order of 3GPP TS 38.211 §6.3.1.6 resource mapping). Symbol ``i`` of an image goes to slot
``i // D`` at position ``data_positions[i % D]``.

The default grid is 14 OFDM symbols × 72 subcarriers (6 resource blocks) at 30 kHz, pilots on OFDM symbols 2
and 11, no guards, no DC null: D = 864 data REs per slot, overhead 1/7 ≈ 14.3 %. The cyclic prefix (5 samples
at FFT size 72 ≈ the NR normal CP of 144/2048) is reported separately; the channel is applied in the
frequency domain assuming the CP covers the delay spread (no inter-symbol or inter-carrier interference).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from kbsc.errors import ConfigError

__all__ = ["GridConfig", "ResourceGrid"]

_PILOT_KEY = 0x6B6273632D70696C  # fixed Philox key of the pilot sequence ("kbsc-pil")


def _as_int_tuple(value: Any, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"grid setting {name} must be a list of integers, got {value!r}") from None
    if any(float(v) != float(int(v)) for v in value):
        raise ConfigError(f"grid setting {name} must hold integers, got {value!r}")
    return out


@dataclass(frozen=True)
class GridConfig:
    """Static configuration of one OFDM slot (all fields may come from an experiment YAML ``grid:`` map).

    num_subcarriers is the FFT size (guards and DC included); num_guard_carriers = (left, right).
    """

    num_ofdm_symbols: int = 14
    subcarrier_spacing: float = 30e3
    num_subcarriers: int = 72
    num_guard_carriers: tuple[int, int] = (0, 0)
    dc_null: bool = False
    pilot_ofdm_symbols: tuple[int, ...] = (2, 11)
    pilot_subcarrier_step: int = 1
    cyclic_prefix_length: int = 5

    def __post_init__(self) -> None:
        guards = _as_int_tuple(self.num_guard_carriers, "num_guard_carriers")
        pilots = _as_int_tuple(self.pilot_ofdm_symbols, "pilot_ofdm_symbols")
        object.__setattr__(self, "num_guard_carriers", guards)
        object.__setattr__(self, "pilot_ofdm_symbols", pilots)
        for name in ("num_ofdm_symbols", "num_subcarriers", "pilot_subcarrier_step", "cyclic_prefix_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) != v:
                raise ConfigError(f"grid setting {name} must be an integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        object.__setattr__(self, "subcarrier_spacing", float(self.subcarrier_spacing))
        object.__setattr__(self, "dc_null", bool(self.dc_null))
        if not 1 <= self.num_ofdm_symbols <= 1000:
            raise ConfigError(f"num_ofdm_symbols must be in 1..1000, got {self.num_ofdm_symbols}")
        if not 1 <= self.num_subcarriers <= 8192:
            raise ConfigError(f"num_subcarriers must be in 1..8192, got {self.num_subcarriers}")
        if not (math.isfinite(self.subcarrier_spacing) and self.subcarrier_spacing > 0):
            raise ConfigError(
                f"subcarrier_spacing must be a positive number of Hz, got {self.subcarrier_spacing}"
            )
        if len(guards) != 2 or min(guards) < 0 or sum(guards) >= self.num_subcarriers:
            raise ConfigError(
                f"num_guard_carriers must be two non-negative counts leaving usable subcarriers, got {guards}"
            )
        if len(set(pilots)) != len(pilots) or any(not 0 <= p < self.num_ofdm_symbols for p in pilots):
            raise ConfigError(
                f"pilot_ofdm_symbols must be distinct indices in 0..{self.num_ofdm_symbols - 1}, got {pilots}"
            )
        if self.pilot_subcarrier_step < 1:
            raise ConfigError(f"pilot_subcarrier_step must be ≥ 1, got {self.pilot_subcarrier_step}")
        if self.cyclic_prefix_length < 0:
            raise ConfigError(f"cyclic_prefix_length must be ≥ 0, got {self.cyclic_prefix_length}")

    @classmethod
    def from_mapping(cls, grid: GridConfig | Mapping[str, Any] | None) -> GridConfig:
        """The grid of an experiment's ``grid:`` mapping, the one way from settings to a grid: entries set to
        None are left at their defaults, None or an empty mapping is the default grid, a ``GridConfig`` is
        returned as it is. An unknown key or a bad value is a one-line :class:`ConfigError`."""
        if isinstance(grid, GridConfig):
            return grid
        if grid is None:
            return cls()
        if not isinstance(grid, Mapping):
            raise ConfigError(f"grid must be a GridConfig or a mapping, got {type(grid).__name__}")
        try:
            return cls(**{k: v for k, v in grid.items() if v is not None})
        except TypeError as exc:
            raise ConfigError(f"grid settings not understood: {exc}") from None

    @staticmethod
    def is_default_request(grid: GridConfig | Mapping[str, Any] | None) -> bool:
        """True when ``grid`` asks for nothing (None, or a mapping whose entries are all None): the bridge's
        default, or whatever grid an imported realization file brings."""
        return grid is None or (isinstance(grid, Mapping) and all(v is None for v in grid.values()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tuples as lists)."""
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in dataclasses.fields(self)
        }

    def build(self) -> ResourceGrid:
        return ResourceGrid(self)


@dataclass(frozen=True)
class ResourceGrid:
    """The RE layout of one slot, derived from a :class:`GridConfig`.

    data_positions:  int64 ``[D, 2]`` (OFDM symbol, subcarrier) of the data REs in their fixed order
    pilot_positions: int64 ``[P, 2]`` (OFDM symbol, subcarrier) of the pilots (row-major)
    pilot_values:    complex128 ``[P]`` unit-modulus QPSK pilots
    """

    config: GridConfig

    def __post_init__(self) -> None:
        _ = self.data_positions  # refuse a grid without data REs now

    @property
    def num_ofdm_symbols(self) -> int:
        return self.config.num_ofdm_symbols

    @property
    def num_subcarriers(self) -> int:
        return self.config.num_subcarriers

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_ofdm_symbols, self.num_subcarriers)

    @cached_property
    def usable_subcarriers(self) -> np.ndarray:
        """bool ``[F]``: not a guard and not the (nulled) DC subcarrier."""
        c = self.config
        f = np.ones(c.num_subcarriers, dtype=bool)
        left, right = c.num_guard_carriers
        f[:left] = False
        if right:
            f[c.num_subcarriers - right :] = False
        if c.dc_null:
            f[c.num_subcarriers // 2] = False
        return f

    @cached_property
    def pilot_mask(self) -> np.ndarray:
        """bool ``[T, F]``."""
        c = self.config
        usable = np.flatnonzero(self.usable_subcarriers)
        mask = np.zeros(self.shape, dtype=bool)
        cols = usable[:: c.pilot_subcarrier_step]
        for t in c.pilot_ofdm_symbols:
            mask[t, cols] = True
        return mask

    @cached_property
    def data_mask(self) -> np.ndarray:
        """bool ``[T, F]``."""
        return self.usable_subcarriers[None, :] & ~self.pilot_mask

    @cached_property
    def data_positions(self) -> np.ndarray:
        pos = np.argwhere(self.data_mask).astype(np.int64)  # row-major = frequency first
        if len(pos) == 0:
            raise ConfigError("the grid has no data resource elements; use fewer pilot OFDM symbols")
        return pos

    @cached_property
    def pilot_positions(self) -> np.ndarray:
        return np.argwhere(self.pilot_mask).astype(np.int64)

    @cached_property
    def data_index(self) -> np.ndarray:
        """int64 ``[D]``: flat index ``t·F + f`` of each data RE."""
        p = self.data_positions
        return p[:, 0] * self.num_subcarriers + p[:, 1]

    @cached_property
    def pilot_index(self) -> np.ndarray:
        """int64 ``[P]``: flat index of each pilot RE."""
        p = self.pilot_positions
        return p[:, 0] * self.num_subcarriers + p[:, 1]

    @cached_property
    def pilot_values(self) -> np.ndarray:
        gen = np.random.Generator(np.random.Philox(key=_PILOT_KEY))
        bits = gen.integers(0, 2, size=(len(self.pilot_positions), 2))
        return ((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / np.sqrt(2.0)

    @property
    def data_res_per_slot(self) -> int:
        return int(len(self.data_positions))

    @property
    def pilot_res_per_slot(self) -> int:
        return int(len(self.pilot_positions))

    @property
    def res_per_slot(self) -> int:
        return self.num_ofdm_symbols * self.num_subcarriers

    @property
    def overhead_fraction(self) -> float:
        """(pilots + guards + DC) / all REs of the slot; the cyclic prefix is not included."""
        return 1.0 - self.data_res_per_slot / self.res_per_slot

    @property
    def cyclic_prefix_fraction(self) -> float:
        """Share of time spent on the cyclic prefix, CP / (FFT size + CP)."""
        c = self.config
        return c.cyclic_prefix_length / (c.num_subcarriers + c.cyclic_prefix_length)

    @cached_property
    def subcarrier_frequencies(self) -> np.ndarray:
        """float64 ``[F]`` baseband subcarrier frequencies in Hz (centred, as Sionna's
        ``subcarrier_frequencies``)."""
        c = self.config
        return (np.arange(c.num_subcarriers) - c.num_subcarriers // 2) * c.subcarrier_spacing

    @cached_property
    def symbol_times(self) -> np.ndarray:
        """float64 ``[T]`` start time of each OFDM symbol within the slot, seconds (CP included)."""
        c = self.config
        duration = (c.num_subcarriers + c.cyclic_prefix_length) / (c.num_subcarriers * c.subcarrier_spacing)
        return np.arange(c.num_ofdm_symbols) * duration

    def num_slots(self, k: int) -> int:
        """Slots an image with ``k`` data symbols needs: ceil(k / D)."""
        return -(-int(k) // self.data_res_per_slot)

    def summary(self) -> dict[str, Any]:
        return {
            "data_res_per_slot": self.data_res_per_slot,
            "pilot_res_per_slot": self.pilot_res_per_slot,
            "overhead_fraction": self.overhead_fraction,
            "cyclic_prefix_fraction": self.cyclic_prefix_fraction,
        }
