"""One training loop for every learned system: validation schedule, patience, learning-rate schedule, best
checkpoint, resume, report.

A trainer describes its model as a :class:`TrainTask` (model, optimizer factory, a loss of one batch, a
seeded batch source, a validation function and the metric to maximise) and a :class:`Budget` (step floor
and ceiling, evaluation interval, patience, schedule); :func:`run_training` does the rest:

* every ``eval_every`` optimizer steps (and at the ceiling) it validates, records the curve and keeps a
  copy of the best weights (higher ``metric`` is better; a gain must exceed ``min_delta`` to reset the
  patience; on a tie the later weights are kept);
* it stops when ``patience`` evaluations in a row brought no improvement (not before ``min_steps``), or at
  ``max_steps``; the weights returned are the best ones;
* learning rate: ``plateau`` multiplies it by ``plateau_factor`` after every ``plateau_patience`` evaluations
  without improvement; ``cosine`` decays it from the peak to ``lr_floor`` × peak at ``max_steps``; both
  after an optional linear warm-up of ``warmup_steps``;
* with a ``checkpoint`` path it writes the full state atomically after each evaluation, every tensor on
  the CPU (a checkpoint written on a GPU resumes on a CPU and back: loading copies into the model's
  device); a later call with the same ``key`` resumes there and gives the same weights as an
  uninterrupted run (the batch source is a pure function of the step it starts at, and the trainer fixes
  the thread count);
* the :class:`TrainingReport` says how it went, with a ``converged`` verdict (:func:`convergence`).
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kbsc.errors import ConfigError
from kbsc.util import atomic_write_bytes, progress
from kbsc.util.device import state_dict_to_cpu
from kbsc.util.signed import sign, verified
from kbsc.util.warn import warn

__all__ = [
    "SCHEDULES",
    "Budget",
    "TrainTask",
    "TrainingReport",
    "convergence",
    "run_training",
]

SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class Budget:
    """How long and how to train, in optimizer steps (independent of the dataset's size).

    ``patience``: evaluations without improvement that end training. ``tolerance``: the convergence
    verdict's threshold on the metric's gain over the last ``patience`` evaluations (see :func:`convergence`).
    """

    max_steps: int
    eval_every: int
    patience: int
    min_steps: int = 0
    schedule: str = "plateau"
    warmup_steps: int = 0
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    lr_floor: float = 0.02
    min_delta: float = 0.0
    tolerance: float = 0.005

    def validated(self) -> Budget:
        if self.max_steps < 1 or self.eval_every < 1 or self.patience < 1:
            raise ConfigError(
                f"training needs max_steps ≥ 1, eval_every ≥ 1 and patience ≥ 1 (got {self.max_steps}, "
                f"{self.eval_every}, {self.patience})"
            )
        if not 0 <= self.min_steps <= self.max_steps:
            raise ConfigError(f"min_steps must lie in [0, max_steps={self.max_steps}], got {self.min_steps}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown lr schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if not 0 < self.plateau_factor <= 1 or self.plateau_patience < 1 or not 0 <= self.lr_floor <= 1:
            raise ConfigError("plateau_factor in (0, 1], plateau_patience ≥ 1 and lr_floor in [0, 1] needed")
        return self


@dataclass
class TrainTask:
    """What a trainer plugs into the loop.

    model: the module (its ``state_dict`` is what the best checkpoint keeps). make_optimizer: model →
    optimizer (learning rates in its param groups are the peak rates). loss: (batch, step) → scalar loss
    tensor (the loop does zero_grad / backward / step). batches: start step → infinite iterator of batches,
    a pure function of (seed, step) so that resuming reproduces the data order. validate: () → metrics
    (called in eval mode under ``torch.no_grad``). metric: the key of ``validate()``'s result to maximise.
    """

    model: torch.nn.Module
    make_optimizer: Callable[[torch.nn.Module], torch.optim.Optimizer]
    loss: Callable[[Any, int], torch.Tensor]
    batches: Callable[[int], Iterator[Any]]
    validate: Callable[[], dict[str, float]]
    metric: str
    extra_modules: dict[str, torch.nn.Module] = field(default_factory=dict)


@dataclass
class TrainingReport:
    """How a training run went (stored in the model's manifest, shown by ``kbsc info`` and the run summary).

    curve: one entry per evaluation ``{step, loss, lr, <metrics>}``. stopped: ``patience``, ``ceiling`` or
    ``interrupted``.
    """

    metric: str
    steps: int
    wall_s: float
    best_step: int
    best: float
    curve: list[dict[str, float]]
    stopped: str
    converged: bool
    rule: str
    budget: dict[str, Any] = field(default_factory=dict)
    steps_per_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingReport:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def brief(self, name: str) -> dict[str, Any]:
        """What a result row needs: the model's name, verdict, steps, best step and why it stopped."""
        return {
            "name": name,
            "converged": bool(self.converged),
            "steps": int(self.steps),
            "best_step": int(self.best_step),
            "stopped": self.stopped,
        }

    def summary(self) -> str:
        """One line: verdict, steps, best step and value, wall time."""
        verdict = "converged" if self.converged else "NOT converged"
        return (
            f"{verdict} ({self.stopped}): {self.steps} steps in {self.wall_s:.0f} s, best {self.metric} "
            f"{self.best:.4g} at step {self.best_step}"
        )


def convergence(
    curve: list[dict[str, float]], metric: str, patience: int, tolerance: float, stopped: str
) -> tuple[bool, str]:
    """The ``converged`` verdict of a validation curve, and its rule in words.

    Converged if training stopped because ``patience`` evaluations brought no improvement, or if the best
    ``metric`` of the last ``patience`` evaluations exceeds the best before them by less than ``tolerance``
    (the run hit its ceiling on a plateau). A run that hit the ceiling while still improving is not
    converged; an interrupted run is not either.
    """
    rule = (
        f"converged if {patience} evaluations in a row did not improve {metric}, or if the best {metric} of "
        f"the last {patience} evaluations beat the earlier best by less than {tolerance:g}"
    )
    if stopped == "patience":
        return True, rule
    if stopped == "interrupted" or len(curve) <= patience:
        return False, rule
    values = [float(c[metric]) for c in curve]
    gain = max(values[-patience:]) - max(values[:-patience])
    return bool(gain < tolerance), rule


def _resumed(
    checkpoint: Path,
    key: Any,
    modules: dict[str, torch.nn.Module],
    opt: torch.optim.Optimizer,
    fresh: dict[str, Any],
) -> dict[str, Any]:
    """The loop state of a resumable checkpoint (its modules and optimizer loaded), or ``fresh`` with one
    warning line that says why it was not used (damaged, altered, unsigned, made for other settings)."""

    try:
        body = verified(checkpoint.read_bytes())
    except (OSError, ValueError) as exc:
        warn(f"training checkpoint {checkpoint} is not usable ({exc}: damaged, altered or written by an "
             "older kbsc); training starts again from step 0")  # fmt: skip
        return fresh
    try:
        blob = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("key") != key:
            warn(f"training checkpoint {checkpoint} was made for other settings; training starts again from "
                 "step 0")  # fmt: skip
            return fresh
        for name, m in modules.items():
            m.load_state_dict(blob["modules"][name])
        opt.load_state_dict(blob["optimizer"])
        return blob["state"]
    except Exception as exc:  # noqa: BLE001 - signed but not loadable (another kbsc version's layout)
        warn(f"training checkpoint {checkpoint} cannot be resumed ({type(exc).__name__}); training starts "
             "again from step 0")  # fmt: skip
        return fresh


def _serialize(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _lr_factor(budget: Budget, step: int, plateau_scale: float) -> float:
    if budget.warmup_steps and step < budget.warmup_steps:
        warm = (step + 1) / budget.warmup_steps
    else:
        warm = 1.0
    if budget.schedule == "cosine":
        p = min(step / budget.max_steps, 1.0)
        decay = budget.lr_floor + (1 - budget.lr_floor) * 0.5 * (1 + math.cos(math.pi * p))
    else:
        decay = plateau_scale
    return warm * decay


def _clone_state(modules: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """A CPU copy of every module's weights (the best checkpoint: device-free, and no GPU memory held)."""
    return {
        name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
        for name, m in modules.items()
    }


def run_training(
    task: TrainTask,
    budget: Budget,
    *,
    checkpoint: Path | None = None,
    key: dict[str, Any] | None = None,
    resume: bool = True,
    stop_after: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    show_progress: bool = True,
    desc: str = "training",
) -> TrainingReport:
    """Train ``task.model`` under ``budget``; leave the best weights in it (eval mode) and report.

    checkpoint: file for the resumable state (None = keep nothing). key: what must match for a checkpoint to
    be resumed (config hash, data fingerprint, …). stop_after: stop after this many steps in this call as if
    interrupted (the state is saved first; the next call resumes). on_step: called with (step, loss) after
    every optimizer step (progress callback).
    """
    budget = budget.validated()
    key = dict(key or {})
    modules = {"model": task.model, **task.extra_modules}
    opt = task.make_optimizer(task.model)
    peak = [float(g["lr"]) for g in opt.param_groups]
    state: dict[str, Any] = {
        "step": 0,
        "best": -math.inf,
        "best_step": 0,
        "best_state": None,
        "since_best": 0,
        "plateau_scale": 1.0,
        "curve": [],
        "wall_s": 0.0,
        "train_s": 0.0,
        "loss_sum": 0.0,
        "loss_n": 0,
    }
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = _resumed(Path(checkpoint), key, modules, opt, state)

    def save() -> None:
        if checkpoint is not None:
            blob = {
                "key": key,
                "modules": {n: state_dict_to_cpu(m.state_dict()) for n, m in modules.items()},
                "optimizer": state_dict_to_cpu(opt.state_dict()),
                "state": state,
            }
            atomic_write_bytes(checkpoint, sign(_serialize(blob)))

    def evaluate(step: int) -> bool:
        """Validate at ``step``; True when patience has run out."""
        for m in modules.values():
            m.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in task.validate().items()}
        for m in modules.values():
            m.train()
        if task.metric not in metrics:
            raise KeyError(f"validate() returned no {task.metric!r} (got {sorted(metrics)})")
        value = metrics[task.metric]
        loss = state["loss_sum"] / max(state["loss_n"], 1)
        lr = float(opt.param_groups[0]["lr"])
        state["curve"].append({"step": step, "loss": loss, "lr": lr, **metrics})
        state["loss_sum"], state["loss_n"] = 0.0, 0
        gain = state["best_state"] is None or value > state["best"] + budget.min_delta
        if gain or value >= state["best"]:  # on a tie keep the later (more trained) weights
            state.update(best=max(value, state["best"]), best_step=step, best_state=_clone_state(modules))
        if gain:
            state["since_best"] = 0
        else:
            state["since_best"] += 1
            if budget.schedule == "plateau" and state["since_best"] % budget.plateau_patience == 0:
                state["plateau_scale"] *= budget.plateau_factor
        return state["since_best"] >= budget.patience and step >= budget.min_steps

    t0 = time.perf_counter() - float(state["wall_s"])
    bar = progress(
        total=budget.max_steps,
        initial=state["step"],
        desc=desc,
        unit="step",
        disable=None if show_progress else True,
    )
    stopped = "ceiling"
    done_here = 0
    finished = bool(state.get("finished"))
    for m in modules.values():
        m.train()
    batches = task.batches(int(state["step"]))
    while not finished and state["step"] < budget.max_steps:
        step = int(state["step"])
        factor = _lr_factor(budget, step, float(state["plateau_scale"]))
        for g, lr in zip(opt.param_groups, peak, strict=True):
            g["lr"] = lr * factor
        t_step = time.perf_counter()
        loss = task.loss(next(batches), step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["train_s"] += time.perf_counter() - t_step
        value = float(loss.detach())
        state["loss_sum"] += value
        state["loss_n"] += 1
        state["step"] = step + 1
        done_here += 1
        bar.update(1)
        if on_step is not None:
            on_step(state["step"], value)
        at_eval = state["step"] % budget.eval_every == 0 or state["step"] == budget.max_steps
        if at_eval:
            if evaluate(int(state["step"])):
                stopped, finished = "patience", True
                state["finished"] = True
            best = state["best"]
            bar.set_postfix(loss=f"{value:.3g}", **{task.metric: f"{best:.4g}"})
        state["wall_s"] = time.perf_counter() - t0
        interrupted = stop_after is not None and done_here >= stop_after and not finished
        if at_eval or interrupted:
            save()
        if interrupted and state["step"] < budget.max_steps:
            stopped = "interrupted"
            break
    bar.close()
    if state.get("finished"):
        stopped = "patience"
    if state["best_state"] is None:  # no evaluation yet (interrupted before the first one)
        evaluate(int(state["step"]))
    for name, m in modules.items():
        m.load_state_dict(state["best_state"][name])
        m.eval()
    converged, rule = convergence(state["curve"], task.metric, budget.patience, budget.tolerance, stopped)
    return TrainingReport(
        metric=task.metric,
        steps=int(state["step"]),
        wall_s=round(float(state["wall_s"]), 2),
        best_step=int(state["best_step"]),
        best=float(state["best"]),
        curve=list(state["curve"]),
        stopped=stopped,
        converged=converged,
        rule=rule,
        budget=dataclasses.asdict(budget),
        steps_per_s=round(int(state["step"]) / max(float(state["train_s"]), 1e-9), 2),
    )
