"""Keyed, counter-based random streams: one independent stream per (master seed, image id, slot, purpose).

Each stream is numpy's ``Philox`` (4×64-bit counter-based generator, Salmon et al., SC'11) with
``key = (seed mod 2⁶⁴, image id mod 2⁶⁴)`` and the slot index and stream purpose in the two high words of the
256-bit counter. Drawing only advances the low words, so streams never overlap, and what a key yields does not
depend on anything else: batch size, batch order, process, worker count or the system asking.

Every slot's noise and channel are drawn on their own per-key code path with fixed shapes (never vectorised
across keys), so the realization of a key is bit-identical whichever batch it arrives in.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["NOISE", "CHANNEL", "slot_generator", "unit_noise"]

_M64 = (1 << 64) - 1

NOISE = 0  # unit-variance complex noise on every RE of the slot
CHANNEL = 1  # channel-model draws of the slot


_local = threading.local()


def slot_generator(seed: int, image_id: int, slot: int, purpose: int) -> np.random.Generator:
    """The generator of key (seed, image id, slot) for ``purpose`` (``NOISE`` or ``CHANNEL``).

    For speed one Philox object per thread is re-keyed (its whole state is set, buffers emptied) instead of
    constructing a new one; use the returned generator before asking for the next key.
    """
    gen = getattr(_local, "gen", None)
    if gen is None:
        gen = _local.gen = np.random.Generator(np.random.Philox(key=0))
    gen.bit_generator.state = {
        "bit_generator": "Philox",
        "state": {
            "counter": np.array([0, 0, int(purpose) & _M64, int(slot) & _M64], dtype=np.uint64),
            "key": np.array([int(image_id) & _M64, int(seed) & _M64], dtype=np.uint64),
        },
        "buffer": np.zeros(4, dtype=np.uint64),
        "buffer_pos": 4,
        "has_uint32": 0,
        "uinteger": 0,
    }
    return gen


def unit_noise(seed: int, image_id: int, slot: int, shape: tuple[int, int]) -> np.ndarray:
    """complex64 ``shape`` unit-variance circular Gaussian noise, E|n|² = 1."""
    g = slot_generator(seed, image_id, slot, NOISE)
    z = g.standard_normal((2, *shape), dtype=np.float32) * np.float32(np.sqrt(0.5))
    out = np.empty(shape, dtype=np.complex64)
    out.real = z[0]
    out.imag = z[1]
    return out
