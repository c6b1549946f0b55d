"""Training speed of every learned model on a CPU: optimizer steps per second with its real data pipeline.

Each trainer's own job (batches, loss, optimizer) runs a few warm-up steps and then ``steps`` timed steps on
random data of the embedded default's shapes (32×32 images, 100 classes, 512-d unit features), with the
trainer's fixed thread count (1); the stand-in runs in its trainer's deterministic mode. Validation is not
included (it runs every ``eval_every`` steps). Used by ``kbsc bench`` (``train_steps_per_s``) and to size the
presets' ceilings.

Two clocks: ``wall`` (steps per second of elapsed time, what a training run takes on this machine now) and
``cpu`` (steps per second of this process's CPU time, user + system). On a shared machine the wall figure
mostly measures the scheduler's share of a core; the CPU figure measures the work a step costs, and is the one
to compare code changes with (interleave the runs all the same: caches and memory bandwidth are shared too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kbsc.data.base import ImageSet
from kbsc.features.standin import StandinConfig, _deterministic_torch, _StandinTraining
from kbsc.jscc.train import JSCCTrainConfig, TrainImages, _JSCCTraining
from kbsc.semantic.train import TrainConfig, TrainData, _CodecTraining, build_codec
from kbsc.training.store import fixed_threads

__all__ = ["MODELS", "StepRate", "measure_training_speed", "measure_training_speeds"]


@dataclass(frozen=True)
class StepRate:
    """Optimizer steps per second of wall-clock time and of process CPU time."""

    wall: float
    cpu: float


def _time_job(job, steps: int, warmup: int = 3) -> StepRate:
    task = job.task()
    opt = task.make_optimizer(task.model)
    task.model.train()
    for m in getattr(task, "extra_modules", {}).values():
        m.train()
    batches = task.batches(0)
    t0 = c0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0, c0 = time.perf_counter(), time.process_time()
        loss = task.loss(next(batches), i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return StepRate(steps / wall, steps / max(cpu, 1e-9))


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n, dtype=np.int64) % 100


def _standin(steps: int) -> StepRate:
    images, labels = _images(2048)
    train = ImageSet(images, labels, [str(c) for c in range(100)], "speed")
    with _deterministic_torch(torch.get_num_threads()):  # the mode train_standin runs in
        return _time_job(_StandinTraining(train, StandinConfig(), 0), steps)


def _codec(steps: int) -> StepRate:
    rng = np.random.default_rng(0)
    f = rng.standard_normal((4096, 512)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    lab = np.arange(4096, dtype=np.int64) % 100
    data = TrainData(
        f[:3584], np.arange(3584), f[3584:3840], lab[3584:3840], np.arange(256), f[3840:], lab[3840:]
    )
    cfg = TrainConfig(k=384, channel="rayleigh").resolved()  # CBR 1/8
    return _time_job(_CodecTraining(cfg, data, build_codec(cfg)), steps)


def _jscc(model: str) -> Callable[[int], StepRate]:
    def run(steps: int) -> StepRate:
        images, _ = _images(1024)
        k = None if model == "swinjscc" else 384
        cfg = JSCCTrainConfig(model=model, k=k, channel="rayleigh").resolved()
        return _time_job(_JSCCTraining(cfg, TrainImages(images, np.arange(1024))), steps)

    return run


MODELS: dict[str, Callable[[int], StepRate]] = {
    "standin": _standin,
    "kbsc-codec": _codec,
    "deepjscc": _jscc("deepjscc"),
    "swinjscc": _jscc("swinjscc"),
}


def measure_training_speeds(quick: bool = False, threads: int = 1) -> dict[str, dict[str, float]]:
    """Steps per second of each model by both clocks: ``{"wall": {model: rate}, "cpu": {model: rate}}``
    (batch sizes of the ``quick`` settings)."""
    steps = 5 if quick else 20
    out: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
    with fixed_threads(threads), torch.random.fork_rng(devices=[]):
        for name, fn in MODELS.items():
            rate = fn(steps)
            out["wall"][name], out["cpu"][name] = round(rate.wall, 2), round(rate.cpu, 2)
    return out


def measure_training_speed(quick: bool = False, threads: int = 1) -> dict[str, float]:
    """Optimizer steps per second of wall-clock time of each model (:func:`measure_training_speeds`)."""
    return measure_training_speeds(quick, threads)["wall"]
