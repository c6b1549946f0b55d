"""Files that carry the SHA-256 of their own content: ``kbsc-sha256:<hex>\\n`` + body (caches, resumable
training checkpoints). A file cut short by a crash, damaged or altered fails :func:`verified`."""

from __future__ import annotations

import hashlib

__all__ = ["sign", "verified"]

MAGIC = b"kbsc-sha256:"


def sign(body: bytes) -> bytes:
    """``kbsc-sha256:<hex digest of body>\\n`` + body."""
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def verified(data: bytes) -> bytes:
    """The body of signed ``data`` whose digest matches it; ValueError (saying which) otherwise."""
    head, sep, body = data.partition(b"\n")
    if not sep or not head.startswith(MAGIC):
        raise ValueError("no content digest")
    if head[len(MAGIC) :].decode("ascii", "replace") != hashlib.sha256(body).hexdigest():
        raise ValueError("content digest mismatch")
    return body
