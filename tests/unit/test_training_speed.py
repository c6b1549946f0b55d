"""The training-speed probe runs every model's real training job (the figures go to `kbsc bench`)."""

import time

import torch

from kbsc.tools import train_speed as speed
from kbsc.training import TrainTask


def test_every_model_is_measured_with_its_own_job(monkeypatch):
    calls = []

    def fake_time_job(job, steps, warmup=3):
        task = job.task()
        batch = next(task.batches(0))
        assert float(task.loss(batch, 0).detach()) > 0  # the trainer's own loss on its own batches
        calls.append(type(job).__name__)
        return speed.StepRate(wall=1.0, cpu=2.0)

    monkeypatch.setattr(speed, "_time_job", fake_time_job)
    out = speed.measure_training_speed(quick=True)
    assert set(out) == {"standin", "kbsc-codec", "deepjscc", "swinjscc"}
    assert calls == ["_StandinTraining", "_CodecTraining", "_JSCCTraining", "_JSCCTraining"]
    assert set(out.values()) == {1.0}  # the wall clock


def test_both_clocks_are_measured_on_real_steps():
    class Job:
        """A job whose steps cost CPU time (a matrix product) and, on top, elapsed time (a sleep)."""

        def __init__(self):
            self.model = torch.nn.Linear(64, 1)

        def task(self):
            def batches(start):
                while True:
                    yield torch.randn(256, 64)

            def loss(x, step):
                time.sleep(0.02)  # elapsed, not CPU
                return self.model(x @ torch.randn(64, 64)).square().mean()

            return TrainTask(
                self.model,
                lambda m: torch.optim.SGD(m.parameters(), lr=0.01),
                loss,
                batches,
                lambda: {},
                "none",
            )

    rate = speed._time_job(Job(), steps=5, warmup=1)
    assert 0 < rate.wall < 50  # each step sleeps 20 ms
    assert rate.cpu > rate.wall  # sleeping costs no CPU time
