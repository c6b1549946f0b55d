"""Training speed of every learned model on a CPU: optimizer steps per second with its real data pipeline.

Each trainer's own job (batches, loss, optimizer) runs a few warm-up steps and then ``steps`` timed steps on
random data of the embedded default's shapes (32×32 images, 100 classes, 512-d unit features), with the
trainer's fixed thread count (1). Validation is not included (it runs every ``eval_every`` steps). Used by
``kbsc bench`` (``train_steps_per_s``) and to size the presets' ceilings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from kbsc.training.store import fixed_threads

__all__ = ["MODELS", "measure_training_speed"]


def _time_job(job, steps: int, warmup: int = 3) -> float:
    task = job.task()
    opt = task.make_optimizer(task.model)
    task.model.train()
    for m in getattr(task, "extra_modules", {}).values():
        m.train()
    batches = task.batches(0)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        loss = task.loss(next(batches), i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n, dtype=np.int64) % 100


def _standin(steps: int) -> float:
    from kbsc.data.base import ImageSet
    from kbsc.features.standin import StandinConfig, _StandinTraining

    images, labels = _images(2048)
    train = ImageSet(images, labels, [str(c) for c in range(100)], "speed")
    return _time_job(_StandinTraining(train, StandinConfig(), 0), steps)


def _codec(steps: int) -> float:
    from kbsc.semantic.train import TrainConfig, TrainData, _CodecTraining, build_codec

    rng = np.random.default_rng(0)
    f = rng.standard_normal((4096, 512)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    lab = np.arange(4096, dtype=np.int64) % 100
    data = TrainData(
        f[:3584], np.arange(3584), f[3584:3840], lab[3584:3840], np.arange(256), f[3840:], lab[3840:]
    )
    cfg = TrainConfig(k=384, channel="rayleigh").resolved()  # CBR 1/8
    return _time_job(_CodecTraining(cfg, data, build_codec(cfg)), steps)


def _jscc(model: str) -> Callable[[int], float]:
    def run(steps: int) -> float:
        from kbsc.jscc.train import JSCCTrainConfig, TrainImages, _JSCCTraining

        images, _ = _images(1024)
        k = None if model == "swinjscc" else 384
        cfg = JSCCTrainConfig(model=model, k=k, channel="rayleigh").resolved()
        return _time_job(_JSCCTraining(cfg, TrainImages(images, np.arange(1024))), steps)

    return run


MODELS: dict[str, Callable[[int], float]] = {
    "standin": _standin,
    "kbsc-codec": _codec,
    "deepjscc": _jscc("deepjscc"),
    "swinjscc": _jscc("swinjscc"),
}


def measure_training_speed(quick: bool = False, threads: int = 1) -> dict[str, float]:
    """Optimizer steps per second of each model (batch sizes of the ``quick`` settings)."""
    steps = 5 if quick else 20
    out = {}
    with fixed_threads(threads), torch.random.fork_rng(devices=[]):
        for name, fn in MODELS.items():
            out[name] = round(fn(steps), 2)
    return out
