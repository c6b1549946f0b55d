"""Outer-loop link adaptation (OLLA): an SNR offset driven by ACK/NACK toward a BLER target.

The link adaptation of ``hevc+ldpc-amc`` picks the highest MCS whose AWGN threshold + offset is at most the
receiver's effective SNR; the offset moves after each first transmission's HARQ feedback
(Pedersen, Kolding, Frederiksen, Kovács, Laselva, Mogensen, "A simple (and robust) way to reduce the BLER in
HSDPA", VTC 2005; the ratio from Sampath, Kumar, Holtzman, "On setting reverse link target SIR in a CDMA
system", VTC 1997):

* ACK: offset ← offset − Δ_down; NACK: offset ← offset + Δ_up; then clipped to [offset_min, offset_max];
* Δ_down = Δ_up · target / (1 − target), so that in steady state NACKs make up ``target`` of the feedback.

This is the update of ``sionna.sys.OuterLoopLinkAdaptation`` (same defaults: Δ_up = 1 dB, offsets within
± 20 dB, start at 0); a test feeds both the same ACK/NACK sequence and compares the offsets.

Order: a cell's images are adapted one after the other in the order of the cell's sender images (the
order of ``ctx.image_ids``, the same in every cell and for every system), each with the offset left by
the feedback of all images before it, starting from 0 in every cell (the loop does not carry over between
cells, so that a cell's outcome depends only on its own images and stays deterministic and paired).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kbsc.errors import ConfigError

__all__ = ["OuterLoop", "olla_offsets"]


@dataclass
class OuterLoop:
    """The offset state of one outer loop (dB, added to every MCS threshold)."""

    bler_target: float = 0.1
    delta_up_db: float = 1.0
    offset_min_db: float = -20.0
    offset_max_db: float = 20.0
    offset_db: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.bler_target < 1.0:
            raise ConfigError(f"bler_target must be in (0, 1), got {self.bler_target}")
        if not self.delta_up_db > 0.0:
            raise ConfigError(f"the OLLA step up must be positive, got {self.delta_up_db} dB")
        if not self.offset_min_db <= self.offset_max_db:
            raise ConfigError(f"OLLA offset bounds reversed: [{self.offset_min_db}, {self.offset_max_db}]")

    @property
    def delta_down_db(self) -> float:
        """Step down on an ACK: Δ_up · target / (1 − target)."""
        return self.delta_up_db * self.bler_target / (1.0 - self.bler_target)

    def update(self, ack: bool) -> float:
        """Apply one HARQ feedback (True = ACK) and return the new offset in dB."""
        step = -self.delta_down_db if ack else self.delta_up_db
        self.offset_db = float(min(max(self.offset_db + step, self.offset_min_db), self.offset_max_db))
        return self.offset_db


def olla_offsets(acks: Iterable[bool], **kw) -> np.ndarray:
    """Offsets float64 ``[T]`` after each feedback of ``acks`` ``[T]`` (True = ACK), from a fresh loop."""
    loop = OuterLoop(**kw)
    return np.array([loop.update(bool(a)) for a in acks], dtype=np.float64)
