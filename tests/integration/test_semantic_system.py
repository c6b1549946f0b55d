"""The semantic systems inside the grid runner, on a fabricated workspace (plugin dataset ``semantic-toy``).

Checks: every semantic system in a cell reports the fingerprint the bridge gives for the cell's images (so the
runner's pairing check passes and a baseline on the same cell sees the same realizations), accuracy rises with
SNR, the models land in the checkpoint cache and a rerun reuses them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kbsc.experiments.config import parse_config
from kbsc.experiments.context import CONTEXT_BUILDERS, ContextSpec
from kbsc.experiments.runner import run_experiment
from kbsc.semantic.channel import open_bridge
from kbsc.systems.base import Cell, EvalContext, get_system

pytest.importorskip("kbsc.data.splits")

N_CLASSES = 10


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % N_CLASSES
    f = centres[labels] + 1.2 * rng.standard_normal((n, 512)) / np.sqrt(512)
    return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32), labels.astype(np.int64)


def build_semantic_toy(spec: ContextSpec) -> EvalContext:
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((N_CLASSES, 512))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    train_f, train_l = _clustered(1500, rng, centres)
    send_f, send_l = _clustered(spec.n_images, rng, centres)
    kb_f, kb_l = _clustered(100, rng, centres)
    ws = SimpleNamespace(
        train=SimpleNamespace(labels=train_l, ids=np.arange(1500, dtype=np.int64)),
        train_features=train_f,
        extractor=SimpleNamespace(fingerprint="semantic-toy"),
    )
    return EvalContext(
        data_dir=Path(spec.data_dir),
        images=np.zeros((spec.n_images, 32, 32, 3), np.uint8),
        labels=send_l,
        image_ids=np.arange(spec.n_images, dtype=np.int64),
        features=send_f,
        extractor=None,
        kb=SimpleNamespace(features=kb_f, labels=kb_l),
        workspace=ws,
        options=dict(spec.options),
    )


if "semantic-toy" not in CONTEXT_BUILDERS:
    CONTEXT_BUILDERS.add("semantic-toy", build_semantic_toy)

TRAIN = {"max_steps": 40, "min_steps": 0, "eval_every": 20, "lr": 3e-3, "batch_size": 64}


def _config() -> dict:
    return {
        "plugins": ["test_semantic_system"],
        "dataset": {"name": "semantic-toy"},
        "extractor": {"name": "none"},
        "n_images": 200,
        "snr_db": [-12, 8],
        "cbr": [4 / 3072],
        "channels": ["awgn"],
        "systems": [
            {"name": "kbsc", "options": TRAIN},
            {"name": "kbsc-snr", "options": TRAIN},
            {"name": "kbsc-no-codec"},
        ],
    }


def test_semantic_systems_in_the_runner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_experiment(
        parse_config(_config(), allow_code=True),
        tmp_path / "run",
        backend="serial",
        data_dir=data,
        show_progress=False,
        allow_code=True,
    )
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert sorted(df.system.unique()) == ["kbsc", "kbsc-no-codec", "kbsc-snr"]
    for _, cell in df.groupby("snr_db"):
        assert cell.fingerprint.nunique() == 1
    expected = open_bridge("awgn", "perfect", 0).fingerprint(np.arange(200, dtype=np.int64), 4)
    assert set(df.fingerprint) == {expected}
    for name in ("kbsc", "kbsc-snr"):
        acc = df[df.system == name].set_index("snr_db").acc_top1
        assert acc[8.0] > acc[-12.0] + 0.1, (name, acc.to_dict())
        assert acc[8.0] > 0.7
    models = sorted(p.name.split("-k")[0] for p in (data / "semantic").iterdir())
    assert models == ["kbsc", "kbsc-snr"]
    outcomes = pd.read_parquet(tmp_path / "run" / "outcomes.parquet")
    assert (outcomes[outcomes.system == "kbsc"].x_channel_uses == 4).all()


def test_prepare_then_evaluate_directly_reuses_the_cache(tmp_path: Path) -> None:
    spec = ContextSpec(
        dataset="semantic-toy",
        extractor="none",
        n_images=50,
        data_dir=str(tmp_path),
        options=(("grid", None), ("training", {})),
    )
    ctx = build_semantic_toy(spec)
    cell = Cell(
        system="kbsc",
        dataset="semantic-toy",
        extractor="none",
        channel="awgn",
        csi="perfect",
        snr_db=0.0,
        cbr=8 / 3072,
        seed=3,
    )
    first = get_system("kbsc", **TRAIN)
    first.prepare(ctx, [cell])
    assert not next(iter(first.train_log.values())).cached
    second = get_system("kbsc", **TRAIN)
    second.prepare(ctx, [cell])
    assert next(iter(second.train_log.values())).cached
    a, b = first.evaluate(cell, ctx), second.evaluate(cell, ctx)
    assert np.array_equal(a.retrieved, b.retrieved) and a.fingerprint == b.fingerprint
    ref = get_system("kbsc-no-codec").evaluate(cell, ctx)
    assert ref.fingerprint == a.fingerprint


def test_cli_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from kbsc.cli import main

    common = [
        "--dataset",
        "semantic-toy",
        "--extractor",
        "none",
        "--cbr",
        "4/3072",
        "--max-steps",
        "20",
        "--lr",
        "3e-3",
        "--data-dir",
        str(tmp_path),
    ]
    assert main(["train", "--variant", "kbsc", *common]) == 0
    out = capsys.readouterr().out
    assert "kbsc" in out and "semantic" in out  # the checkpoint path is printed
    assert (
        main(
            [
                "evaluate",
                "--variant",
                "kbsc",
                "kbsc-no-codec",
                "--snr",
                "-10",
                "10",
                "--n-images",
                "100",
                *common,
            ]
        )
        == 0
    )
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("kbsc")]
    assert len(rows) == 4
    assert {r[0] for r in rows} == {"kbsc", "kbsc-no-codec"}
    assert len({r[-1] for r in rows if r[5] == "10"}) == 1  # same fingerprint for both systems at one SNR
    # the trained model was reused, not retrained: still exactly one checkpoint folder
    assert len(list((tmp_path / "semantic").iterdir())) == 1
