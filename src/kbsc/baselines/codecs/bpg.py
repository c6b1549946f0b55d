"""The real BPG tools (``bpgenc``/``bpgdec`` by F. Bellard) when they are on PATH.

The payload is the whole ``.bpg`` file (magic, header, compressed parameter sets, slice data): this is the
accounting of the BPG papers. Quality = bpgenc's ``-q`` QP (51 … 0), 4:4:4 (``-f 444``), 8 bit;
``-lossless`` for quality -1. Without the tools, constructing the codec fails with a clear message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kbsc.baselines.codecs.base import IMAGE_CODECS, ImageCodec, check_image, safe_decode
from kbsc.errors import ConfigError, DataError

__all__ = ["BpgCodec", "bpg_version"]

TIMEOUT_S = 30


def bpg_version(bpgenc: str) -> str:
    """The first line of ``bpgenc -h`` ("BPG Image Encoder version …"), or a ConfigError."""
    try:
        out = subprocess.run([bpgenc, "-h"], capture_output=True, text=True, timeout=TIMEOUT_S)
    except OSError as exc:
        raise ConfigError(f"cannot run {bpgenc}: {exc}") from None
    text = (out.stdout + out.stderr).strip().splitlines()
    head = next((line for line in text if "BPG" in line), "")
    if not head:
        raise ConfigError(f"{bpgenc} does not look like bpgenc (no version line)")
    return head.strip()


@IMAGE_CODECS.register("bpg")
class BpgCodec(ImageCodec):
    """Wraps ``bpgenc``/``bpgdec`` (found on PATH, or given)."""

    name = "bpg"
    qualities = tuple(range(51, -1, -1))
    lossless_quality = -1

    def __init__(self, bpgenc: str | None = None, bpgdec: str | None = None, level: int = 8) -> None:
        self.bpgenc = bpgenc or shutil.which("bpgenc")
        self.bpgdec = bpgdec or shutil.which("bpgdec")
        if not self.bpgenc or not self.bpgdec:
            raise ConfigError(
                "codec 'bpg' needs bpgenc and bpgdec on PATH (https://bellard.org/bpg/); "
                "install them or use codec 'hevc' (the same HEVC intra coding through pillow-heif)"
            )
        self.version = bpg_version(self.bpgenc)
        self.level = int(level)

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "level": self.level}

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        image = check_image(image)
        quality = self.check_quality(quality)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.png", Path(tmp) / "out.bpg"
            Image.fromarray(image, "RGB").save(src)
            args = [self.bpgenc, "-f", "444", "-b", "8", "-m", str(self.level), "-o", str(dst)]
            args += ["-lossless"] if quality == self.lossless_quality else ["-q", str(quality)]
            res = subprocess.run([*args, str(src)], capture_output=True, timeout=TIMEOUT_S)
            if res.returncode != 0 or not dst.exists():
                raise DataError(f"bpgenc failed: {res.stderr.decode(errors='replace').strip()[:200]}")
            return dst.read_bytes()

    def decode(self, payload: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
        def run() -> np.ndarray | None:
            with tempfile.TemporaryDirectory() as tmp:
                src, dst = Path(tmp) / "in.bpg", Path(tmp) / "out.png"
                src.write_bytes(bytes(payload))
                res = subprocess.run(
                    [self.bpgdec, "-o", str(dst), str(src)],
                    capture_output=True,
                    timeout=TIMEOUT_S,
                    env={**os.environ},
                )
                if res.returncode != 0 or not dst.exists():
                    return None
                with Image.open(dst) as im:
                    return np.asarray(im.convert("RGB"))

        return safe_decode(run, tuple(shape))
