"""Realization fingerprints: a short hash that proves which channel and noise a result saw.

Each key (image id, slot) gets a 64-bit digest: the first 8 bytes of sha256(configuration tag ‖ id ‖ slot ‖
bytes of the slot's channel ‖ bytes of its noise). The fingerprint of a set of keys is the sum of their
digests mod 2⁶⁴ as 16 hex digits: it does not depend on order or batching, repeated keys count once, and the
fingerprints of disjoint key sets combine by :func:`combine_fingerprints` into the fingerprint of their union.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

__all__ = ["combine_fingerprints", "fingerprint_of", "slot_digest"]

_M64 = (1 << 64) - 1


def slot_digest(tag: bytes, image_id: int, slot: int, h: np.ndarray, n: np.ndarray) -> int:
    """64-bit digest of one key's realization (h, n complex64 ``[T, F]``)."""
    d = hashlib.sha256(tag)
    d.update(struct.pack("<QQ", int(image_id) & _M64, int(slot) & _M64))
    d.update(np.ascontiguousarray(h, dtype=np.complex64).tobytes())
    d.update(np.ascontiguousarray(n, dtype=np.complex64).tobytes())
    return int.from_bytes(d.digest()[:8], "little")


def fingerprint_of(digests: dict[tuple[int, int], int]) -> str:
    """Order-independent fingerprint of the keys (→ digest) in ``digests``."""
    return f"{sum(digests.values()) & _M64:016x}"


def combine_fingerprints(*fingerprints: str) -> str:
    """Fingerprint of the union of DISJOINT key sets from their fingerprints."""
    return f"{sum(int(f, 16) for f in fingerprints) & _M64:016x}"
