"""The shared training loop: convergence verdict, patience, best checkpoint, LR schedule, resume."""

from __future__ import annotations

import itertools

import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.training import Budget, TrainTask, convergence, run_training


def _curve(values):
    return [{"step": 10 * (i + 1), "acc": v} for i, v in enumerate(values)]


def test_convergence_rule_on_synthetic_curves():
    # patience ran out: converged whatever the values
    assert convergence(_curve([0.1, 0.5, 0.4, 0.4]), "acc", 2, 0.01, "patience")[0]
    # hit the ceiling while still climbing: not converged
    rising = _curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert not convergence(rising, "acc", 3, 0.01, "ceiling")[0]
    # hit the ceiling on a plateau (last window gained less than the tolerance): converged
    flat = _curve([0.1, 0.5, 0.6, 0.601, 0.603, 0.604])
    assert convergence(flat, "acc", 3, 0.01, "ceiling")[0]
    assert not convergence(flat, "acc", 3, 0.001, "ceiling")[0]
    # too short to judge, or interrupted: not converged
    assert not convergence(_curve([0.5, 0.5]), "acc", 3, 0.01, "ceiling")[0]
    assert not convergence(flat, "acc", 3, 0.01, "interrupted")[0]
    ok, rule = convergence(flat, "acc", 3, 0.01, "ceiling")
    assert "3 evaluations" in rule and "acc" in rule


def _regression_task(seed: int = 0, scripted: list[float] | None = None):
    """Fit y = x·w* (8 → 1) with a linear model; metric = −validation MSE (or a scripted sequence)."""
    g = torch.Generator().manual_seed(123)
    w_true = torch.randn(8, 1, generator=g)
    xv = torch.randn(64, 8, generator=g)
    yv = xv @ w_true
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 1)
    script = iter(scripted) if scripted is not None else None

    def batches(start: int):
        for step in itertools.count(start):
            gb = torch.Generator().manual_seed(1000 + step)
            x = torch.randn(16, 8, generator=gb)
            yield x, x @ w_true + 0.1 * torch.randn(16, 1, generator=gb)

    def loss(batch, step):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y)

    def validate():
        if script is not None:
            return {"neg_mse": next(script)}
        return {"neg_mse": -float(torch.nn.functional.mse_loss(model(xv), yv))}

    task = TrainTask(
        model, lambda m: torch.optim.SGD(m.parameters(), lr=0.05), loss, batches, validate, "neg_mse"
    )
    return task, model


def test_patience_stops_and_keeps_the_best_weights():
    values = [0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0]
    task, model = _regression_task(scripted=values)
    rep = run_training(task, Budget(max_steps=80, eval_every=10, patience=3), show_progress=False)
    assert rep.stopped == "patience" and rep.converged
    assert rep.steps == 50 and rep.best_step == 20 and rep.best == 0.5
    assert [c["step"] for c in rep.curve] == [10, 20, 30, 40, 50]
    # the weights left in the model are those of step 20, not 50
    task2, model2 = _regression_task(scripted=[0.0, 1.0])
    run_training(task2, Budget(max_steps=20, eval_every=10, patience=3), show_progress=False)
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_min_steps_floor_and_plateau_lr():
    task, _ = _regression_task(scripted=[0.5] + [0.0] * 20)
    rep = run_training(
        task,
        Budget(
            max_steps=200, eval_every=10, patience=2, min_steps=60, plateau_patience=1, plateau_factor=0.5
        ),
        show_progress=False,
    )
    assert rep.steps == 60 and rep.stopped == "patience"
    lrs = [c["lr"] for c in rep.curve]
    assert lrs[0] == pytest.approx(0.05)
    assert lrs[2] == pytest.approx(0.05 * 0.5) and lrs[3] == pytest.approx(0.05 * 0.25)


def test_gains_below_min_delta_halve_the_lr_and_end_training():
    """The JSCC ``reference`` setting: validations creeping up by less than ``min_delta`` count as no gain
    (the rate halves, patience runs out), while the better weights are still kept."""
    from kbsc.jscc.train import PLATEAU_MIN_DELTA_DB, JSCCTrainConfig

    values = [1.0, 2.0, 2.01, 2.02, 2.03, 2.04, 2.05, 2.06]
    task, _ = _regression_task(scripted=values)
    rep = run_training(
        task,
        Budget(max_steps=200, eval_every=10, patience=4, plateau_patience=2, min_delta=0.05),
        show_progress=False,
    )
    assert rep.stopped == "patience" and rep.steps == 60
    assert rep.best == pytest.approx(2.04) and rep.best_step == 60
    assert [round(c["lr"] / 0.05, 3) for c in rep.curve] == [1, 1, 1, 1, 0.5, 0.5]
    budget = JSCCTrainConfig(setting="reference", k=64).resolved().budget()
    assert budget.schedule == "plateau" and budget.min_delta == PLATEAU_MIN_DELTA_DB
    assert JSCCTrainConfig(setting="quick", k=64).resolved().budget().schedule == "cosine"


def test_cosine_schedule_reaches_floor_and_real_task_converges():
    task, _ = _regression_task()
    rep = run_training(
        task,
        Budget(max_steps=100, eval_every=10, patience=50, schedule="cosine", lr_floor=0.1),
        show_progress=False,
    )
    assert rep.stopped == "ceiling" and rep.steps == 100
    assert rep.curve[-1]["lr"] < 0.05 * 0.12
    assert rep.best > -0.05  # the regression was learnt (initial −MSE is about −8)


def test_resume_gives_the_same_result_as_uninterrupted(tmp_path):
    budget = Budget(max_steps=60, eval_every=10, patience=10)
    task, model = _regression_task()
    full = run_training(task, budget, show_progress=False)
    ck = tmp_path / "resume.pt"
    task_a, _ = _regression_task()
    part = run_training(task_a, budget, checkpoint=ck, key={"cfg": 1}, stop_after=25, show_progress=False)
    assert part.stopped == "interrupted" and not part.converged and ck.exists()
    task_b, model_b = _regression_task(seed=99)  # different init: everything must come from the checkpoint
    rest = run_training(task_b, budget, checkpoint=ck, key={"cfg": 1}, show_progress=False)
    assert rest.steps == full.steps and rest.best_step == full.best_step
    assert [c["neg_mse"] for c in rest.curve] == [c["neg_mse"] for c in full.curve]
    for a, b in zip(model.state_dict().values(), model_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # a checkpoint of another configuration is not resumed
    task_c, model_c = _regression_task(seed=99)
    other = run_training(
        task_c,
        Budget(max_steps=10, eval_every=10, patience=1),
        checkpoint=ck,
        key={"cfg": 2},
        show_progress=False,
    )
    assert other.steps == 10


def test_bad_budget_is_a_config_error():
    task, _ = _regression_task()
    for bad in (
        Budget(0, 10, 1),
        Budget(10, 10, 0),
        Budget(10, 5, 1, schedule="step"),
        Budget(10, 5, 1, min_steps=20),
    ):
        with pytest.raises(ConfigError):
            run_training(task, bad, show_progress=False)
