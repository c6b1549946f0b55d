"""One-line warnings on stderr (``kbsc: warning: …``), each distinct one once per process."""

from __future__ import annotations

import sys

__all__ = ["warn"]

_SEEN: set[str] = set()


def warn(message: str, key: str | None = None) -> bool:
    """Print ``kbsc: warning: message`` (its first line only) unless ``key`` (default: the message) was
    already warned about in this process; True when printed."""
    k = key if key is not None else message
    if k in _SEEN:
        return False
    _SEEN.add(k)
    line = " ".join((message.strip().splitlines() or [""])[0].split())
    print(f"kbsc: warning: {line}", file=sys.stderr, flush=True)
    return True
