"""The training-speed probe runs every model's real training job (the figures go to `kbsc bench`)."""

from kbsc.training import speed


def test_every_model_is_measured_with_its_own_job(monkeypatch):
    calls = []

    def fake_time_job(job, steps, warmup=3):
        task = job.task()
        batch = next(task.batches(0))
        assert float(task.loss(batch, 0).detach()) > 0  # the trainer's own loss on its own batches
        calls.append(type(job).__name__)
        return 1.0

    monkeypatch.setattr(speed, "_time_job", fake_time_job)
    out = speed.measure_training_speed(quick=True)
    assert set(out) == {"standin", "kbsc-codec", "deepjscc", "swinjscc"}
    assert calls == ["_StandinTraining", "_CodecTraining", "_JSCCTraining", "_JSCCTraining"]
