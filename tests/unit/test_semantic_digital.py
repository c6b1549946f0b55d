"""The digital semantic baseline: PQ code sizes vs the NR transport block, the code's bit layout, quantizer
training determinism and cache, retrieval from codes vs a direct FAISS reference, failed blocks never
delivered, and the capacity genie's code sizes."""

from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np
import pytest

from kbsc.bridge.training_keys import open_bridge
from kbsc.kb import KnowledgeBase
from kbsc.nrlink.capacity import capacity_bits
from kbsc.nrlink.mcs import plan_tb
from kbsc.semantic.quantizer import (
    NBITS_MAX,
    NBITS_MIN,
    PqSpec,
    load_or_train,
    pq_spec_for,
    pq_specs,
    train_quantizer,
)
from kbsc.systems.base import Cell, EvalContext, get_system

DIM = 64
N_CLASSES = 8


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray, spread: float = 1.0):
    labels = np.arange(n) % len(centres)
    f = centres[labels] + spread * rng.standard_normal((n, centres.shape[1])) / np.sqrt(centres.shape[1])
    return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32), labels.astype(np.int64)


def _ctx(data_dir: Path, n: int = 40) -> EvalContext:
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((N_CLASSES, DIM))
    train_f, _ = _clustered(2048, rng, centres)
    send_f, send_l = _clustered(n, rng, centres)
    kb_f, kb_l = _clustered(80, rng, centres)
    return EvalContext(
        data_dir=data_dir,
        images=np.zeros((n, 32, 32, 3), np.uint8),
        labels=send_l,
        image_ids=np.arange(n, dtype=np.int64),
        features=send_f,
        extractor=None,
        kb=KnowledgeBase(kb_f, kb_l),
        workspace=SimpleNamespace(train_features=train_f),
    )


def _cell(system: str, snr: float, channel: str = "awgn", cbr: float = 1 / 24, mcs: int | None = 4) -> Cell:
    return Cell(system, "toy", "toy", channel, "perfect", snr, cbr, 0, mcs)


def _reference_labels(q, ctx: EvalContext) -> np.ndarray:
    """Direct FAISS: compute_codes -> decode -> exact inner-product search on the KB features."""
    rec = q.pq.decode(q.pq.compute_codes(np.ascontiguousarray(ctx.features)))
    index = faiss.IndexFlatIP(ctx.kb.features.shape[1])
    index.add(ctx.kb.features)
    _, idx = index.search(rec, 5)
    return ctx.kb.labels[idx]


# ---------------------------------------------------------------------------------------------- code sizes
@pytest.mark.parametrize("k", [128, 384, 768, 1536, 200, 1000])
@pytest.mark.parametrize("mcs", [0, 4, 10, 16, 27])
def test_code_fills_but_never_exceeds_the_transport_block(k, mcs):
    tbs = plan_tb(k, mcs).tb_size
    spec = pq_spec_for(tbs, 512)
    assert spec is not None and spec.bits <= tbs
    fam = pq_specs(512)
    # best fit: no code of the family lies between the chosen one and the TB size
    assert not [s for s in fam if spec.bits < s.bits <= tbs]
    cap = max(s.bits for s in fam)
    assert spec.bits >= min(tbs, cap) * 2 / 3
    assert NBITS_MIN <= spec.nbits <= NBITS_MAX and 512 % spec.m == 0


def test_fill_bound_over_every_budget():
    fam_max = max(s.bits for s in pq_specs(512))
    assert fam_max == 2048
    fills = [pq_spec_for(b, 512).bits / min(b, fam_max) for b in range(24, 6000)]
    assert min(fills) >= 2 / 3 - 1e-9
    assert pq_spec_for(5, 512) is None  # below the smallest code (1 x 6 bits)


# ------------------------------------------------------------------------------------- quantizer itself
def test_code_bits_are_nearest_centroid_indices_lsb_first():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 32)).astype(np.float32)
    q = train_quantizer(x, PqSpec(4, 7, 32), seed=3)
    bits = q.encode(x[:50])
    assert bits.shape == (50, 28) and set(np.unique(bits)) <= {0, 1}
    cent = q.centroids.reshape(4, 128, 8)
    for m in range(4):
        d = ((x[:50, None, m * 8 : (m + 1) * 8] - cent[m][None]) ** 2).sum(-1)
        idx = (bits[:, m * 7 : (m + 1) * 7].astype(np.int64) << np.arange(7)).sum(1)
        assert np.array_equal(idx, d.argmin(1))
    np.testing.assert_array_equal(q.decode(bits), q.pq.decode(q.encode_codes(x[:50])))


def test_training_is_deterministic_and_seeded():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, DIM)).astype(np.float32)
    spec = PqSpec(8, 6, DIM)
    a, b = train_quantizer(x, spec, seed=0), train_quantizer(x, spec, seed=0)
    assert a.content_hash == b.content_hash
    assert train_quantizer(x, spec, seed=1).content_hash != a.content_hash


def test_cache_reuses_and_retrains_a_corrupt_entry(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3000, DIM)).astype(np.float32)
    spec = PqSpec(8, 6, DIM)
    a = load_or_train(x, spec, tmp_path)
    (entry,) = list(tmp_path.iterdir())
    assert (entry / "manifest.json").is_file()
    b = load_or_train(x, spec, tmp_path)
    assert b.content_hash == a.content_hash
    np.save(entry / "centroids.npy", np.zeros_like(a.centroids))  # content no longer matches its manifest
    c = load_or_train(x, spec, tmp_path)
    assert c.content_hash == a.content_hash
    assert load_or_train(x[:2500], spec, tmp_path).content_hash != a.content_hash  # other data, other entry
    assert len(list(tmp_path.iterdir())) == 2


# ------------------------------------------------------------------------------------------- the systems
def test_noiseless_link_equals_direct_faiss_reference(kbsc_data):
    ctx = _ctx(kbsc_data)
    system = get_system("kbsc-digital")
    cell = _cell("kbsc-digital", 40.0)
    out = system.evaluate(cell, ctx)
    tbs = plan_tb(cell.k(ctx.source_dim), 4).tb_size
    spec = pq_spec_for(tbs, DIM)
    assert np.all(out.extras["tb_error"] == 0) and np.all(out.extras["bits"] == spec.bits)
    q = system.quantizer(ctx, spec)
    np.testing.assert_array_equal(out.retrieved, _reference_labels(q, ctx))
    assert out.fingerprint == open_bridge("awgn", "perfect", 0).fingerprint(ctx.image_ids, cell.k(3072))


def test_failed_transport_blocks_are_never_delivered(kbsc_data):
    ctx = _ctx(kbsc_data)
    system = get_system("kbsc-digital")
    dead = system.evaluate(_cell("kbsc-digital", -15.0, mcs=10), ctx)
    assert np.all(dead.extras["tb_error"] == 1)
    assert np.all(dead.retrieved == -1) and not dead.correct_top1.any()
    # Rayleigh near the threshold: a mixture; every failed block counts wrong, every passed one is exact
    mixed = system.evaluate(_cell("kbsc-digital", 4.0, "rayleigh"), ctx)
    fail = mixed.extras["tb_error"] == 1
    assert 0 < fail.sum() < len(fail)
    assert np.all(mixed.retrieved[fail] == -1)
    q = system.quantizer(ctx, pq_spec_for(int(mixed.extras["info_bits"][0]), DIM))
    np.testing.assert_array_equal(mixed.retrieved[~fail], _reference_labels(q, ctx)[~fail])
    # a receiver that ignores the CRC decodes the erroneous bits instead (stated alternative)
    used = get_system("kbsc-digital", failure="use").evaluate(_cell("kbsc-digital", 4.0, "rayleigh"), ctx)
    assert np.all(used.retrieved[:, 0] >= 0)


def test_best_envelope_dominates_each_mcs(kbsc_data):
    ctx = _ctx(kbsc_data)
    cell = _cell("kbsc-digital-best", 4.0, "rayleigh", mcs=None)
    best = get_system("kbsc-digital-best", mcs_set=[4, 10]).evaluate(cell, ctx)
    fixed = get_system("kbsc-digital")
    for m in (4, 10):
        one = fixed.evaluate(_cell("kbsc-digital", 4.0, "rayleigh", mcs=m), ctx)
        assert np.all(best.correct_top1 >= one.correct_top1)


def test_capacity_genie_code_fits_each_realization(kbsc_data):
    ctx = _ctx(kbsc_data)
    cell = _cell("kbsc-digital-capacity", -4.0, "rayleigh", mcs=None)
    out = get_system("kbsc-digital-capacity").evaluate(cell, ctx)
    cap = capacity_bits(open_bridge("rayleigh", "perfect", 0), ctx.image_ids, cell.k(3072), -4.0)
    np.testing.assert_allclose(out.extras["capacity_bits"], cap)
    bits = out.extras["bits"]
    assert np.all(bits <= cap)
    for b, c in zip(bits, cap, strict=True):
        spec = pq_spec_for(int(np.floor(c)), DIM)
        assert b == (0 if spec is None else spec.bits)
    assert np.all(out.retrieved[bits == 0] == -1)
