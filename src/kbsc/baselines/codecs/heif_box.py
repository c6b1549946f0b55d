"""Just enough ISO-BMFF to split a single-image HEIF into (fixed container + parameter sets, slice NAL units)
and to put a received slice back into a decodable HEIF.

A HEIF from libheif holding one HEVC image is ``ftyp | meta(… iloc … iprp(ipco(hvcC …))) | mdat``: the
parameter sets (VPS/SPS/PPS) live in ``hvcC``; ``mdat`` holds the slice NAL units, each behind a 4-byte
length. :class:`HeifTemplate` keeps everything before ``mdat`` and where the item's extent length is, so a
file is rebuilt by patching that one field and appending a new ``mdat``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["HeifTemplate", "find_box", "mdat_nal_units", "top_level_boxes"]


def top_level_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes in ``data[start:end]`` (no 64-bit sizes: not used at this scale)."""
    end = len(data) if end is None else end
    out = []
    off = start
    while off + 8 <= end:
        size, typ = struct.unpack(">I4s", data[off : off + 8])
        if size < 8 or off + size > end:
            raise ValueError(f"bad box {typ!r} of size {size} at {off}")
        out.append((typ, off, size))
        off += size
    return out


def find_box(data: bytes, path: list[bytes]) -> tuple[int, int]:
    """(offset, size) of the box at ``path`` (e.g. ``[b"meta", b"iloc"]``); ``meta`` is a FullBox."""
    start, end = 0, len(data)
    off = size = -1
    for i, typ in enumerate(path):
        hits = [(o, s) for t, o, s in top_level_boxes(data, start, end) if t == typ]
        if not hits:
            raise ValueError(f"no {typ!r} box")
        off, size = hits[0]
        if i + 1 < len(path):
            start, end = off + (12 if typ == b"meta" else 8), off + size
    return off, size


def mdat_nal_units(data: bytes) -> list[bytes]:
    """The NAL units in ``mdat`` (4-byte length prefixes removed)."""
    off, size = find_box(data, [b"mdat"])
    p, end, out = off + 8, off + size, []
    while p + 4 <= end:
        (n,) = struct.unpack(">I", data[p : p + 4])
        out.append(bytes(data[p + 4 : p + 4 + n]))
        p += 4 + n
    return out


@dataclass(frozen=True)
class HeifTemplate:
    """The fixed part of a single-image HEIF: bytes before ``mdat`` and the position of the extent length.

    prefix:      everything before the ``mdat`` box
    length_at:   offset of the item's extent_length field in ``prefix``
    length_size: its width in bytes (4 or 8)
    hvcc:        the ``hvcC`` box (parameter sets), to check that a new encoding used the same ones
    """

    prefix: bytes
    length_at: int
    length_size: int
    hvcc: bytes

    @classmethod
    def from_file(cls, data: bytes) -> HeifTemplate:
        boxes = top_level_boxes(data)
        if [t for t, _, _ in boxes][-1:] != [b"mdat"]:
            raise ValueError("the HEIF does not end with its mdat box")
        mdat_off = boxes[-1][1]
        iloc_off, _ = find_box(data, [b"meta", b"iloc"])
        p = iloc_off + 8
        version = data[p]
        p += 4
        offset_size, length_size = data[p] >> 4, data[p] & 15
        base_offset_size, index_size = data[p + 1] >> 4, data[p + 1] & 15
        p += 2
        if version < 2:
            (count,) = struct.unpack(">H", data[p : p + 2])
            p += 2
        else:
            (count,) = struct.unpack(">I", data[p : p + 4])
            p += 4
        if count != 1:
            raise ValueError(f"expected one item in the HEIF, found {count}")
        p += 2 if version < 2 else 4  # item_ID
        if version in (1, 2):
            p += 2  # reserved + construction_method
        p += 2 + base_offset_size  # data_reference_index, base_offset
        base = int.from_bytes(data[p - base_offset_size : p], "big") if base_offset_size else 0
        (extents,) = struct.unpack(">H", data[p : p + 2])
        p += 2
        if extents != 1:
            raise ValueError(f"expected one extent, found {extents}")
        if version in (1, 2) and index_size:
            p += index_size
        ext_off = int.from_bytes(data[p : p + offset_size], "big") + base
        p += offset_size
        if ext_off != mdat_off + 8:
            raise ValueError("the item's data does not start at the beginning of mdat")
        hv_off, hv_size = find_box(data, [b"meta", b"iprp", b"ipco", b"hvcC"])
        return cls(
            prefix=bytes(data[:mdat_off]),
            length_at=p,
            length_size=length_size,
            hvcc=bytes(data[hv_off : hv_off + hv_size]),
        )

    def build(self, nal_units: list[bytes]) -> bytes:
        """A HEIF file holding ``nal_units`` (each given without a length prefix)."""
        body = b"".join(struct.pack(">I", len(n)) + n for n in nal_units)
        pre = bytearray(self.prefix)
        pre[self.length_at : self.length_at + self.length_size] = len(body).to_bytes(self.length_size, "big")
        return bytes(pre) + struct.pack(">I4s", 8 + len(body), b"mdat") + body
