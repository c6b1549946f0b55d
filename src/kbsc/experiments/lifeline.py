"""Workers die with their parent (docs/design.md §7): nothing keeps running or holding memory after
``kill -9``.

:func:`die_with_parent` is called first thing in a worker process. Two mechanisms, either one suffices:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` — the kernel kills the worker the moment its parent exits;
* everywhere: a daemon thread that polls ``os.getppid()`` and ends the process once it no longer names the
  parent (an orphan is re-parented to init or a sub-reaper).

The parent's pid is passed in rather than read in the worker, so that a parent which died before the worker
got here is noticed too.

Processes that kbsc does not start itself (the local Ray instance: GCS, raylet, its agents and workers) get a
*reaper* (:func:`start_reaper`): a small process, run from this file as a script (no kbsc import), that keeps
a snapshot of the run's process tree and, when the run dies, SIGKILLs whatever of it is still alive (Ray's own
agents otherwise linger about a minute). A clean :meth:`Reaper.stop` ends it without killing anything.
Linux (``/proc``) only; elsewhere it is not started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["Reaper", "die_with_parent", "set_parent_death_signal", "start_reaper"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.5
_started = False


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent exits; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, poll_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_s):
        if os.getppid() != parent_pid:
            os._exit(1)


def die_with_parent(parent_pid: int, poll_s: float = POLL_S) -> None:
    """Make this process exit when process ``parent_pid`` (its parent) is gone. Idempotent."""
    global _started
    if _started:
        return
    _started = True
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, poll_s), name="kbsc-lifeline", daemon=True).start()


# --------------------------------------------------------------------------------------------- reaper


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks) of ``pid`` from /proc, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[19]


def _descendants(root: int) -> dict[int, str]:
    """pid → start time of every process below ``root``."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            table[int(entry)] = st
    out: dict[int, str] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier and pid not in out}
        out.update({pid: table[pid][1] for pid in frontier})
    return out


def _reap(parent_pid: int, poll_s: float = POLL_S) -> None:
    """Body of the reaper process: snapshot ``parent_pid``'s tree until the parent is gone (EOF on stdin
    without a ``stop`` line, or re-parenting), then SIGKILL what remains of the snapshot."""
    done = threading.Event()
    stopped = threading.Event()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                stopped.set()
                break
        done.set()

    threading.Thread(target=listen, daemon=True).start()
    me = os.getpid()
    known: dict[int, str] = {}
    while not done.wait(poll_s) and os.getppid() == parent_pid:
        known.update({pid: t for pid, t in _descendants(parent_pid).items() if pid != me})
    if stopped.is_set():
        return
    for pid, started in known.items():
        st = _stat(pid)
        if st is not None and st[1] == started:  # the same process, not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Reaper:
    """Handle of a running reaper process (see :func:`start_reaper`)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def stop(self) -> None:
        """The run ends normally: end the reaper without killing anything."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(b"stop\n")
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_reaper() -> Reaper | None:
    """A reaper for this process's descendants (Linux only; None elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return None
    proc = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve()), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Reaper(proc)


if __name__ == "__main__":  # the reaper process: python lifeline.py PARENT_PID
    _reap(int(sys.argv[1]))
