"""The channel-model interface and the ``CHANNELS`` registry (one file per model family).

A model turns one slot's keyed generator into the slot's frequency response ``[T, F]`` (one complex gain per
resource element, E|h|² = 1), and gives the channel's second-order statistics for LMMSE estimation. It never
draws the noise: the bridge adds its own keyed noise so that every system sees the same noise on the same REs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from kbsc.bridge.grid import ResourceGrid
from kbsc.errors import ConfigError
from kbsc.util import Registry

__all__ = ["CHANNELS", "ChannelModel"]


class ChannelModel(ABC):
    """One channel model on one resource grid.

    equalize: False for the paper authors' channels (``authors-*``): the receiver gets the raw y = h·x + n
    with noise_var = N0 (no pilots, no estimation, no equalization).
    """

    name: ClassVar[str] = ""
    equalize: ClassVar[bool] = True
    random: ClassVar[bool] = True  # False: deterministic response, no CHANNEL stream is drawn
    backend: ClassVar[str] = (
        "native"  # "sionna": drawn by a Sionna block (kbsc.bridge.channels.sionna_adapter)
    )

    def __init__(self, rg: ResourceGrid, **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(f"channel {self.name!r} takes no option(s) {', '.join(sorted(kwargs))}")
        self.rg = rg

    @abstractmethod
    def slot_response(self, gen: np.random.Generator | None) -> np.ndarray:
        """complex128 ``[T, F]`` frequency response of one slot from the slot's CHANNEL generator (None for
        deterministic models)."""

    @abstractmethod
    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """complex128 ``[len(a), len(b)]``: E[H(a) H(b)*] for REs given as (OFDM symbol, subcarrier) rows."""

    def options(self) -> dict[str, Any]:
        """The model's configuration (JSON-friendly), part of the fingerprint and the export."""
        return {}


CHANNELS: Registry[type[ChannelModel]] = Registry("channel model")
