"""One progress helper for the whole package: a tqdm bar on a terminal, sparse plain lines in logs.

* stderr is a terminal → a tqdm bar (as before).
* stderr is a file or pipe (CI logs, ``make demo > log 2>&1``) → plain lines, no carriage returns: one when a
  further 10 % is done (at most every :data:`MIN_LINE_S` seconds), at least every :data:`EVERY_S` seconds,
  and a last line on close if the bar lasted more than :data:`MIN_LINE_S` seconds.
* ``KBSC_QUIET=1`` (or ``disable=True``) → nothing at all, whatever the caller asks.
* in a worker process (:func:`enter_worker`) → nothing is drawn: the bar's state goes to the worker's
  reporter, which the local backend relays to the main process; the runner's bars show the latest state as
  their postfix (``prepare 7/8 [w2 train kbsc k=128 awgn 3/8]``). Only the main process draws progress.

A training loop reports its steps by creating ``progress(total=n_steps, desc=..., unit="step")`` and calling
``update(1)`` per step; nothing else is needed for the progress to appear in ``kbsc run``.

Importing this module is cheap: tqdm is imported when the first terminal bar is drawn.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

__all__ = [
    "EVERY_S",
    "MIN_LINE_S",
    "LineProgress",
    "enter_worker",
    "in_worker",
    "is_quiet",
    "progress",
    "relay",
]

EVERY_S = 30.0  # a plain line at least this often while a bar runs (log mode)
MIN_LINE_S = 2.0  # and never more often than this
RELAY_EVERY_S = 1.0  # a worker sends its bar's state at most this often

_worker: dict[str, Any] = {"on": False, "reporter": None, "name": ""}
_hosts: list[Any] = []  # open main-process bars that show the workers' state (innermost last)


def is_quiet() -> bool:
    """True when ``KBSC_QUIET`` is set to anything but ``""``/``0``: no progress, no chatter."""
    return os.environ.get("KBSC_QUIET", "").strip() not in ("", "0")


def enter_worker(reporter: Callable[[dict[str, Any]], None] | None = None, name: str = "") -> None:
    """Mark this process as a worker: bars are not drawn; their state goes to ``reporter`` (if any).

    ``reporter`` receives ``{"worker": name, "desc": str, "n": int, "total": int | None, "unit": str}``.
    """
    _worker.update(on=True, reporter=reporter, name=name or f"pid {os.getpid()}")


def in_worker() -> bool:
    """True after :func:`enter_worker` in this process."""
    return bool(_worker["on"])


def relay(event: dict[str, Any]) -> None:
    """Main process: show a worker's bar state on the innermost open host bar (``progress(host=True)``)."""
    if not _hosts:
        return
    total = event.get("total")
    count = f"{event.get('n', 0)}/{total}" if total else str(event.get("n", 0))
    _hosts[-1].set_postfix_str(f"{event.get('worker', '')} {event.get('desc', '')} {count}".strip())


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    initial: float = 0,
    disable: bool | None = False,
    host: bool = False,
    stream: TextIO | None = None,
    **tqdm_kwargs: Any,
) -> Any:
    """A progress bar over ``iterable`` (or updated by hand with ``update(n)``), chosen as described above.

    The result supports iteration, ``update``, ``close``, ``set_postfix``, ``set_postfix_str``,
    ``set_description``, ``n`` and use as a context manager, whichever form it takes.
    ``disable=None`` is accepted for tqdm compatibility and means "not disabled".
    ``host=True`` (main process only): this bar shows the state of workers' bars as its postfix.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    common = {"total": total, "desc": desc, "unit": unit, "initial": initial}
    if disable or is_quiet():
        return LineProgress(iterable, silent=True, **common)
    if _worker["on"]:
        return LineProgress(iterable, silent=True, reporter=_worker["reporter"], **common)
    out = stream if stream is not None else sys.stderr
    if _is_tty(out):
        from tqdm.auto import tqdm

        tqdm_kwargs.setdefault("dynamic_ncols", True)
        tqdm_kwargs.setdefault("leave", False)
        cls = _host_tqdm() if host else tqdm
        bar: Any = cls(iterable, file=out, **common, **tqdm_kwargs)
    else:
        bar = LineProgress(iterable, stream=out, **common)
    if host:
        _hosts.append(bar)
    return bar


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """tqdm's small API as sparse plain lines (log mode), as nothing (silent) or as relayed state (worker)."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        initial: float = 0,
        stream: TextIO | None = None,
        silent: bool = False,
        reporter: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.postfix = ""
        self._stream = stream
        self._silent = silent
        self._reporter = reporter
        self._clock = clock
        self._t0 = self._last_line = clock()
        self._last_relay = -float("inf")
        self._last_tenth = self._tenth()
        self._lines = 0
        self._closed = False
        self._relay(force=True)

    # -- tqdm's API
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress bar has no iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def update(self, n: float = 1) -> None:
        self.n += n
        self._relay()
        self._tick()

    def set_postfix(self, ordered: dict[str, Any] | None = None, refresh: bool = True, **kw: Any) -> None:
        items = {**(ordered or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())
        self._tick()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)  # e.g. a worker's training steps, relayed: also keeps the log lines coming
        self._tick()

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self in _hosts:
            _hosts.remove(self)
        self._relay(force=True)
        now = self._clock()
        if self._writes() and (self._lines or now - self._t0 >= MIN_LINE_S):
            self._line(now, done=True)

    # -- internals
    def _tick(self) -> None:
        """A line if a further 10 % is done (and MIN_LINE_S passed) or EVERY_S passed; the last at close."""
        if not self._writes() or self._closed:
            return
        now = self._clock()
        tenth = self._tenth()
        since = now - self._last_line
        finished = bool(self.total) and self.n >= (self.total or 0)
        if not finished and (since >= EVERY_S or (tenth > self._last_tenth and since >= MIN_LINE_S)):
            self._line(now)
        self._last_tenth = max(self._last_tenth, tenth)

    def _writes(self) -> bool:
        return not self._silent and self._stream is not None

    def _tenth(self) -> int:
        return int(10 * self.n / self.total) if self.total else 0

    def _line(self, now: float, done: bool = False) -> None:
        count = f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"
        pct = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        extra = f" [{self.postfix}]" if self.postfix else ""
        end = " done" if done else ""
        text = f"{self.desc}: {count}{pct}, {now - self._t0:.0f} s{extra}{end}"
        assert self._stream is not None
        print(text, file=self._stream, flush=True)
        self._last_line = now
        self._lines += 1

    def _relay(self, force: bool = False) -> None:
        if self._reporter is None:
            return
        now = self._clock()
        if not force and now - self._last_relay < RELAY_EVERY_S:
            return
        self._last_relay = now
        event = {
            "worker": _worker["name"],
            "desc": self.desc,
            "n": self.n,
            "total": self.total,
            "unit": self.unit,
        }
        try:
            self._reporter(event)
        except Exception:  # progress must never break the work it reports on
            self._reporter = None


@functools.cache
def _host_tqdm() -> type:
    """tqdm that leaves the host list when closed (made on first use, so that tqdm loads only then)."""
    from tqdm.auto import tqdm

    class HostTqdm(tqdm):  # type: ignore[misc, valid-type]
        def close(self) -> None:
            if self in _hosts:
                _hosts.remove(self)
            super().close()

    return HostTqdm
