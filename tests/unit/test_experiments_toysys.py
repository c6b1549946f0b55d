"""Test-only systems and a fabricated dataset for the experiment runner (imported as a plugin).

``toy`` dataset: 10 classes with random unit class centres in 32-d; sender/KB features are noisy copies.
``toy-analog`` sends the first k(cbr) feature dims through an AWGN-like channel whose noise per image is a
pure function of (seed, image id, channel, csi, snr), then retrieves by nearest neighbour in the KB;
``toy-analog-2`` does the same with twice the noise; ``toy-skewed`` reports a different fingerprint (a broken
system). Environment knobs for crash tests: ``TOY_CRASH_SNR`` (raise on cells with that SNR),
``TOY_USER_ERROR_SNR`` (raise a ConfigError, a user error, there), ``TOY_SLEEP`` (seconds per cell).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kbsc.errors import ConfigError
from kbsc.experiments.context import CONTEXT_BUILDERS, ContextSpec
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, Outcomes, System

DIM = 32
N_CLASSES = 10


@dataclass
class ToyKB:
    features: np.ndarray  # [M, DIM]
    labels: np.ndarray  # [M]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build_toy_context(spec: ContextSpec) -> EvalContext:
    rng = np.random.default_rng(1234)
    centres = _unit(rng.standard_normal((N_CLASSES, DIM)))
    n_pool = 400
    labels = np.arange(n_pool) % N_CLASSES
    feats = _unit(centres[labels] + 0.1 * rng.standard_normal((n_pool, DIM)))
    kb_labels = np.arange(200) % N_CLASSES
    kb = ToyKB(
        _unit(centres[kb_labels] + 0.1 * rng.standard_normal((200, DIM))).astype(np.float32), kb_labels
    )
    images = rng.integers(0, 256, size=(n_pool, 4, 4, 3), dtype=np.uint8)
    from kbsc.data.splits import balanced_subset

    idx = balanced_subset(labels, spec.n_images)
    return EvalContext(
        data_dir=Path(spec.data_dir),
        images=images[idx],
        labels=labels[idx].astype(np.int64),
        image_ids=(1000 + idx).astype(np.int64),
        features=feats[idx].astype(np.float32),
        extractor=None,
        kb=kb,
        options=dict(spec.options),
    )


def _key(cell: Cell, image_id: int) -> list[int]:
    h = hashlib.sha256(f"{cell.channel}|{cell.csi}|{cell.snr_db}|{cell.cbr}".encode()).digest()
    return [cell.seed, int(image_id), int.from_bytes(h[:4], "little")]


def toy_fingerprint(cell: Cell, image_ids: np.ndarray) -> str:
    return hashlib.sha256(repr((_key(cell, 0), image_ids.tolist())).encode()).hexdigest()[:16]


def _marker(ctx: EvalContext, cell: Cell) -> Path:
    name = f"{cell.system}-{cell.channel}-{cell.csi}-{cell.cbr}-{cell.seed}"
    return Path(ctx.data_dir) / "toy-prepared" / name


class ToyAnalog(System):
    """``prepare`` leaves a marker per (channel, csi, cbr, seed), like a model; ``evaluate`` needs it."""

    noise_scale = 1.0

    def prepare(self, ctx: EvalContext, cells: list[Cell]) -> None:
        for cell in cells:
            path = _marker(ctx, cell)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        if not _marker(ctx, cell).exists():
            raise RuntimeError(f"evaluate before prepare: {_marker(ctx, cell)} is missing")
        if os.environ.get("TOY_CRASH_SNR") and float(os.environ["TOY_CRASH_SNR"]) == cell.snr_db:
            raise RuntimeError("toy crash requested")
        if os.environ.get("TOY_USER_ERROR_SNR") and float(os.environ["TOY_USER_ERROR_SNR"]) == cell.snr_db:
            raise ConfigError("toy option out of range for this cell")
        if os.environ.get("TOY_SLEEP"):
            time.sleep(float(os.environ["TOY_SLEEP"]))
        k = max(1, min(DIM, cell.k(ctx.source_dim)))
        sigma = 0.15 * self.noise_scale * 10 ** (-cell.snr_db / 20)
        sent = ctx.features[:, :k]
        rx = np.empty_like(sent)
        for i, iid in enumerate(ctx.image_ids):  # per-image stream: independent of batching and workers
            rng = np.random.default_rng(_key(cell, iid))
            rx[i] = sent[i] + sigma * rng.standard_normal(k)
        d = ((rx[:, None, :] - ctx.kb.features[None, :, :k]) ** 2).sum(-1)
        top = np.argsort(d, axis=1, kind="stable")[:, :5]
        retrieved = ctx.kb.labels[top]
        return Outcomes(
            image_ids=ctx.image_ids.copy(),
            labels=ctx.labels.copy(),
            retrieved=retrieved.astype(np.int64),
            fingerprint=self.fingerprint(cell, ctx),
            extras={
                "psnr": np.full(len(ctx.labels), 10.0 + cell.snr_db),
                "bits": np.full(len(ctx.labels), 32.0 * k),
            },
        )

    def fingerprint(self, cell: Cell, ctx: EvalContext) -> str:
        return toy_fingerprint(cell, ctx.image_ids)


class ToyAnalog2(ToyAnalog):
    noise_scale = 2.0


class ToyAnalogGpu(ToyAnalog2):
    """An accelerated toy (like KBSC and JSCC): on a GPU machine its cells run where the GPU is."""

    accelerated = True


class ToySkewed(ToyAnalog):
    def fingerprint(self, cell: Cell, ctx: EvalContext) -> str:
        return "skewed" + toy_fingerprint(cell, ctx.image_ids)[6:]


if "toy" not in CONTEXT_BUILDERS:
    CONTEXT_BUILDERS.add("toy", build_toy_context)
    SYSTEMS.add("toy-analog", ToyAnalog)
    SYSTEMS.add("toy-analog-2", ToyAnalog2)
    SYSTEMS.add("toy-skewed", ToySkewed)
    SYSTEMS.add("toy-analog-gpu", ToyAnalogGpu)


def test_toy_system_is_a_pure_function_of_the_cell(tmp_path):
    spec = ContextSpec(dataset="toy", extractor="none", n_images=40, data_dir=str(tmp_path))
    ctx = build_toy_context(spec)
    cell = Cell("toy-analog", "toy", "none", "awgn", "perfect", 0.0, 1 / 4, 3)
    with pytest.raises(RuntimeError, match="evaluate before prepare"):
        ToyAnalog().evaluate(cell, ctx)
    ToyAnalog().prepare(ctx, [cell])
    a = ToyAnalog().evaluate(cell, ctx)
    # a subset of the images gets the same noise per image
    sub = EvalContext(
        ctx.data_dir, ctx.images[::2], ctx.labels[::2], ctx.image_ids[::2], ctx.features[::2], None, ctx.kb
    )
    b = ToyAnalog().evaluate(cell, sub)
    np.testing.assert_array_equal(a.retrieved[::2], b.retrieved)
    assert np.bincount(ctx.labels).tolist() == [4] * 10
