"""`kill -9` of `kbsc run` leaves no process behind (docs/design.md §7), on the local pool and the Ray
backend.

A toy grid (the test-only systems of tests/unit/test_experiments_toysys.py, each cell sleeping) runs in a
subprocess with 2 workers; once the workers exist the parent is killed with SIGKILL and every process it had
started must be gone (or a zombie waiting for init to reap it) within a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"
SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process table in /proc"
)


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of ``pid``, None if it no longer exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st[0]
    out: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in out}
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] not in "ZX"


def _run_and_kill(
    tmp_path: Path, backend: str, min_children: int, grace_s: float = 15.0
) -> tuple[set[int], set[int]]:
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 20\n"
        "snr_db: [-6, -3, 0, 3, 6, 9]\ncbr: [1/16, 1/8, 1/4]\nseeds: [0, 1, 2]\n"
        "systems: [{name: toy-analog}]\n"
    )
    env = {
        **os.environ,
        "KBSC_QUIET": "1",
        "TOY_SLEEP": "2",
        "PYTHONPATH": os.pathsep.join([str(SRC), str(UNIT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "kbsc.cli",
        "run",
        str(cfg),
        "--out",
        str(tmp_path / "out"),
        "--backend",
        backend,
        "--workers",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        "--allow-code",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        children: set[int] = set()
        # the first finished cells prove that the workers are up and computing
        while time.time() < deadline and proc.poll() is None:
            children = _descendants(proc.pid)
            if len(children) >= min_children and any((tmp_path / "out" / "cells").glob("*.parquet")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        children = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + grace_s
        while time.time() < deadline and any(_alive(p) for p in children):
            time.sleep(0.2)

        return children, {p for p in children if _alive(p)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kill_9_of_a_local_run_leaves_no_worker(tmp_path):
    children, left = _run_and_kill(tmp_path, "local", min_children=2)
    assert len(children) >= 2  # the two pool workers (and the resource tracker) existed
    try:
        assert not left, f"processes still alive after kill -9 of their parent: {sorted(left)}"
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.ray
def test_kill_9_of_a_ray_run_leaves_no_process(tmp_path):
    pytest.importorskip("ray")
    children, left = _run_and_kill(tmp_path, "ray", min_children=4)
    assert len(children) >= 4  # GCS, raylet, the two actor workers, ...
    try:
        assert not left, f"Ray processes still alive after kill -9 of the run: {sorted(left)}"
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)
