"""The progress helper: bars on a terminal, sparse plain lines in logs, silence when quiet, and in workers
nothing drawn but the state relayed to the main process's bar (``kbsc run``'s preparation bar)."""

from __future__ import annotations

import importlib
import io
import re
import time
from pathlib import Path

import numpy as np
import pytest

from kbsc.experiments.context import CONTEXT_BUILDERS, ContextSpec
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, System
from kbsc.util import progress as progress_fn
from kbsc.util.progress import EVERY_S, MIN_LINE_S, LineProgress, relay

# the module (for its worker state): `kbsc.util.progress` as an attribute is the function
pm = importlib.import_module("kbsc.util.progress")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def loud(monkeypatch):
    """Progress enabled (the test suite sets KBSC_QUIET) and this process not a worker."""
    monkeypatch.delenv("KBSC_QUIET", raising=False)
    monkeypatch.setitem(pm._worker, "on", False)
    monkeypatch.setitem(pm._worker, "reporter", None)


def test_log_mode_writes_one_plain_line_per_tenth_and_no_carriage_returns(loud):
    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(total=1000, desc="train", unit="step", stream=out, clock=clock)
    for _ in range(1000):
        clock.t += 0.05  # 50 s in all: every 10 % is 5 s apart, above MIN_LINE_S
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10  # 10 %, 20 %, ..., 90 %, then the closing line at 100 %
    assert lines[0].startswith("train: 100/1000 step (10 %)")
    assert lines[-1].startswith("train: 1000/1000 step (100 %)") and lines[-1].endswith("done")


def test_log_mode_is_sparse_in_time_and_silent_for_short_bars(loud):
    out, clock = io.StringIO(), FakeClock()
    slow = LineProgress(total=None, desc="slow", stream=out, clock=clock)
    for _ in range(100):  # no total: a line every EVERY_S seconds only
        clock.t += EVERY_S / 10
        slow.update(1)
    assert len(out.getvalue().splitlines()) == 10
    # a relayed worker state keeps the lines coming while the bar itself does not move
    waiting = LineProgress(total=8, desc="prepare", stream=out, clock=clock)
    before = len(out.getvalue().splitlines())
    for step in range(1, 61):
        clock.t += 1.0
        waiting.set_postfix_str(f"w1 train kbsc {step}/60")
    assert len(out.getvalue().splitlines()) == before + 2  # at 30 s and 60 s
    assert out.getvalue().splitlines()[-1].endswith("[w1 train kbsc 60/60]")
    out2 = io.StringIO()
    fast = LineProgress(total=10_000, desc="fast", stream=out2, clock=FakeClock())  # no time passes
    for _ in range(10_000):
        fast.update(1)
    fast.close()
    assert out2.getvalue() == ""  # tenths pass faster than MIN_LINE_S and the bar ends quickly


def test_progress_chooses_by_terminal_and_quiet(loud, monkeypatch):
    log, tty = io.StringIO(), Tty()
    assert isinstance(progress_fn(range(3), stream=log), LineProgress)
    bar = progress_fn(range(3), stream=tty, desc="shown", mininterval=0)
    assert list(bar) == [0, 1, 2]
    assert "\r" in tty.getvalue() and "shown" in tty.getvalue()
    monkeypatch.setenv("KBSC_QUIET", "1")
    quiet_tty = Tty()
    for item in progress_fn(range(3), stream=quiet_tty, disable=None):  # the training loops pass disable=None
        assert item in (0, 1, 2)
    assert quiet_tty.getvalue() == ""
    monkeypatch.setenv("KBSC_QUIET", "0")
    assert not pm.is_quiet()


def test_worker_bars_draw_nothing_and_relay_their_state(loud, monkeypatch):
    events: list[dict] = []
    monkeypatch.setitem(pm._worker, "on", True)
    monkeypatch.setitem(pm._worker, "reporter", events.append)
    monkeypatch.setitem(pm._worker, "name", "w1")
    tty = Tty()
    bar = progress_fn(total=500, desc="train kbsc", unit="step", stream=tty)
    for _ in range(500):
        bar.update(1)
    bar.close()
    assert tty.getvalue() == ""
    assert 2 <= len(events) <= 4  # opened, closed (+ at most a throttled update or two): not 500
    assert events[-1] == {"worker": "w1", "desc": "train kbsc", "n": 500, "total": 500, "unit": "step"}
    # the main process shows the latest state as the postfix of its innermost host bar
    monkeypatch.setitem(pm._worker, "on", False)
    host = progress_fn(total=8, desc="prepare", host=True, stream=io.StringIO())
    relay(events[-1])
    assert host.postfix == "w1 train kbsc 500/500"
    host.close()
    relay(events[-1])  # no host open: ignored
    assert pm._hosts == []


# ---- end to end: a system that "trains" in a pool worker, the main process shows its steps


class StepsToy(System):
    """``prepare`` reports 30 training steps through the shared helper, as a training loop should."""

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:
        bar = progress_fn(total=30, desc="toy training", unit="step")
        for _ in range(30):
            time.sleep(0.05)
            bar.update(1)
        bar.close()

    def evaluate(self, cell, ctx):  # pragma: no cover - not used
        raise NotImplementedError


def _context(spec: ContextSpec) -> EvalContext:
    for _ in progress_fn(range(5), desc="reading toy images"):  # like the folder reader, in every worker
        time.sleep(MIN_LINE_S / 4)
    z = np.zeros(4, dtype=np.int64)
    return EvalContext(
        Path(spec.data_dir), np.zeros((4, 2, 2, 3), np.uint8), z, z, np.zeros((4, 2)), None, None
    )


if "progress-toy" not in CONTEXT_BUILDERS:
    CONTEXT_BUILDERS.add("progress-toy", _context)
    SYSTEMS.add("progress-toy", StepsToy)


def test_pool_workers_stay_silent_and_their_training_steps_reach_the_main_bar(loud, tmp_path, capfd):
    from kbsc.experiments.backends import get_backend
    from kbsc.experiments.grid import Plan, PrepareTask, SystemPlan

    cell = Cell("progress-toy", "progress-toy", "none", "awgn", "perfect", 0.0, 0.25, 0)
    spec = ContextSpec(dataset="progress-toy", extractor="none", n_images=4, data_dir=str(tmp_path))
    plan = Plan(["test_progress"], spec, {"toy": SystemPlan("progress-toy", {}, [cell])})
    log = io.StringIO()
    host = progress_fn(total=1, desc="prepare", host=True, stream=log)
    backend = get_backend("local", workers=1)
    try:
        outs = list(backend.run(plan, [PrepareTask("toy", (cell,), "prepare-x")], {}, None))
    finally:
        backend.close()  # drains the relayed events
    host.close()
    assert [o.error for o in outs] == [None]
    assert re.fullmatch(r"w\d+ toy training 30/30", host.postfix)
    err = capfd.readouterr().err
    assert "toy training" not in err and "reading toy images" not in err  # workers draw nothing
