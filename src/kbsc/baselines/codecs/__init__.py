"""Image codecs of the conventional baseline behind one interface (:class:`ImageCodec`), by name in
:data:`IMAGE_CODECS`: ``hevc`` (default; HEVC intra via pillow-heif, BPG-style accounting), ``bpg`` (the real
bpgenc/bpgdec when on PATH) and ``jpeg`` (Pillow)."""

from kbsc.baselines.codecs import bpg as _bpg  # noqa: F401 - registers "bpg"
from kbsc.baselines.codecs import hevc as _hevc  # noqa: F401 - registers "hevc"
from kbsc.baselines.codecs import jpeg as _jpeg  # noqa: F401 - registers "jpeg"
from kbsc.baselines.codecs.base import IMAGE_CODECS, Encoded, ImageCodec, check_image, get_codec, safe_decode
from kbsc.baselines.codecs.bpg import BpgCodec, bpg_version
from kbsc.baselines.codecs.hevc import HevcCodec
from kbsc.baselines.codecs.jpeg import JpegCodec

__all__ = [
    "IMAGE_CODECS",
    "BpgCodec",
    "Encoded",
    "HevcCodec",
    "ImageCodec",
    "JpegCodec",
    "bpg_version",
    "check_image",
    "get_codec",
    "safe_decode",
]
