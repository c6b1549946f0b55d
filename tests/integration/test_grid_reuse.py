"""The grid's shortcuts give the straightforward outcomes, image by image, on a small grid.

* ``hevc+ldpc-best`` and ``hevc+capacity`` share one envelope per grid point through the on-disk memo: the
  memoized cells equal the straightforward evaluation, i.e. per image the best (top-1, top-5, PSNR; ties to
  the MCS listed first) of the fixed-MCS ``hevc+ldpc`` cells of every MCS, and ``hevc+capacity`` computed in a
  data directory with no memo.
* ``kbsc-digital-best`` with early stopping equals its exhaustive evaluation and the per-image best of the
  fixed-MCS ``kbsc-digital`` cells.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from kbsc.jscc.toy import toy_context
from kbsc.kb import KnowledgeBase
from kbsc.systems.base import Cell, EvalContext, get_system

MCS_SET = [0, 4, 9, 14, 20, 27]
#: (channel, SNR dB, CBR): the cliff, mid-range fading, the top where several MCS deliver the same QP
POINTS = [("awgn", -1.0, 1 / 4), ("rayleigh", 4.0, 1 / 4), ("rayleigh", 12.0, 1 / 8)]


def _cell(system: str, channel: str, snr: float, cbr: float, mcs: int | None = None) -> Cell:
    return Cell(system, "toy", "pp", channel, "perfect", snr, cbr, 0, mcs)


def _same(a, b, skip: tuple[str, ...] = ()) -> None:
    np.testing.assert_array_equal(a.retrieved, b.retrieved)
    assert a.fingerprint == b.fingerprint
    assert set(a.extras) == set(b.extras)
    for name in a.extras:
        if name in skip:
            continue
        assert a.extras[name].dtype == b.extras[name].dtype, name
        np.testing.assert_array_equal(a.extras[name], b.extras[name], err_msg=name)


def _best_of_fixed(fixed: list, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward envelope: per image the first fixed-MCS outcome with the highest score."""

    def score(o):
        top1 = (o.retrieved[:, 0] == labels).astype(float)
        top5 = (o.retrieved == labels[:, None]).any(axis=1).astype(float)
        return top1 * 1e6 + top5 * 1e3 + np.nan_to_num(o.extras["psnr"], nan=-1.0)

    scores = np.stack([score(o) for o in fixed])
    pick = np.argmax(scores, axis=0)  # the first maximum: the MCS listed first
    rows = np.arange(len(labels))
    retrieved = np.stack([o.retrieved for o in fixed])[pick, rows]
    return retrieved, np.stack([o.extras["psnr"] for o in fixed])[pick, rows]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("memo"), tmp_path_factory.mktemp("nomemo")


@pytest.mark.parametrize("point", POINTS)
def test_conventional_memo_equals_straightforward(dirs, point):
    memo_dir, plain_dir = dirs
    ctx = toy_context(n=20, data_dir=memo_dir)
    plain = toy_context(n=20, data_dir=plain_dir)
    best_sys = get_system("hevc+ldpc-best", mcs_set=MCS_SET)
    cap_sys = get_system("hevc+capacity", mcs_set=MCS_SET)

    best = best_sys.evaluate(_cell("hevc+ldpc-best", *point), ctx)
    assert best_sys.last_counts["memo_hit"] == 0
    again = get_system("hevc+ldpc-best", mcs_set=MCS_SET)
    _same(again.evaluate(_cell("hevc+ldpc-best", *point), ctx), best)
    assert again.last_counts["memo_hit"] == 1 and again.last_counts["links"] == 0
    exhaustive = get_system("hevc+ldpc-best", mcs_set=MCS_SET, early_stop=False)
    _same(exhaustive.evaluate(_cell("hevc+ldpc-best", *point), ctx), best)

    # capacity: its fixed-MCS part comes from the memo here, is computed in the other directory
    cap = cap_sys.evaluate(_cell("hevc+capacity", *point), ctx)
    assert cap_sys.last_counts["memo_hit"] == 1
    cap_plain = get_system("hevc+capacity", mcs_set=MCS_SET).evaluate(_cell("hevc+capacity", *point), plain)
    _same(cap, cap_plain)

    # the straightforward envelope: every fixed-MCS cell on its own
    fixed = [get_system("hevc+ldpc").evaluate(_cell("hevc+ldpc", *point, mcs=m), plain) for m in MCS_SET]
    retrieved, psnr = _best_of_fixed(fixed, np.asarray(ctx.labels))
    np.testing.assert_array_equal(best.retrieved, retrieved)
    np.testing.assert_array_equal(best.extras["psnr"], psnr)
    used = best.extras["mcs_used"]
    for j, m in enumerate(MCS_SET):  # the winning fixed cell's per-image outcome, field by field
        rows = np.flatnonzero(used == m)
        for name in ("qp", "bits", "sent", "tb_error", "bit_errors", "ms_ssim"):
            np.testing.assert_array_equal(best.extras[name][rows], fixed[j].extras[name][rows], err_msg=name)


def test_memo_key_follows_the_content(tmp_path):
    """A different SNR or a different image set is a different memo entry, never a stale hit."""
    ctx = toy_context(n=12, data_dir=tmp_path)
    sys_ = get_system("hevc+ldpc-best", mcs_set=[4, 14])
    sys_.evaluate(_cell("hevc+ldpc-best", "rayleigh", 4.0, 1 / 4), ctx)
    sys_.evaluate(_cell("hevc+ldpc-best", "rayleigh", 6.0, 1 / 4), ctx)
    assert sys_.last_counts["memo_hit"] == 0
    other = toy_context(n=10, data_dir=tmp_path)
    sys_.evaluate(_cell("hevc+ldpc-best", "rayleigh", 4.0, 1 / 4), other)
    assert sys_.last_counts["memo_hit"] == 0
    assert len(list((tmp_path / "baselines" / "envelopes").glob("*.npz"))) == 3


def _digital_ctx(data_dir, n: int = 48) -> EvalContext:
    rng = np.random.default_rng(7)
    dim, classes = 64, 8
    centres = rng.standard_normal((classes, dim))

    def clustered(m):
        labels = np.arange(m) % classes
        f = centres[labels] + 1.2 * rng.standard_normal((m, dim)) / np.sqrt(dim)
        return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32), labels.astype(np.int64)

    train_f, _ = clustered(2048)
    send_f, send_l = clustered(n)
    kb_f, kb_l = clustered(96)
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


DIGITAL_POINTS = [("rayleigh", -2.0, 1 / 24), ("rayleigh", 4.0, 1 / 24), ("awgn", 0.0, 1 / 12)]


@pytest.mark.parametrize("point", DIGITAL_POINTS)
def test_digital_early_stop_equals_exhaustive(tmp_path, point):
    ctx = _digital_ctx(tmp_path)
    mcs_set = [0, 4, 10, 16, 27]
    system = get_system("kbsc-digital-best", mcs_set=mcs_set)
    cell = _cell("kbsc-digital-best", *point)
    fast_r, fast_x, counts = system.envelope(cell, ctx, early_stop=True)
    full_r, full_x, full_counts = system.envelope(cell, ctx, early_stop=False)
    assert full_counts["links"] == full_counts["exhaustive_links"] == len(mcs_set) * len(ctx.labels)
    assert counts["links"] < counts["exhaustive_links"]  # early stopping did trigger
    np.testing.assert_array_equal(fast_r, full_r)
    assert set(fast_x) == set(full_x)
    for name in fast_x:
        assert fast_x[name].dtype == full_x[name].dtype, name
        np.testing.assert_array_equal(fast_x[name], full_x[name], err_msg=name)
    # and the straightforward envelope of the fixed-MCS system's cells (first highest 2·top-1 + top-5)
    labels = np.asarray(ctx.labels)
    fixed = [get_system("kbsc-digital").evaluate(_cell("kbsc-digital", *point, mcs=m), ctx) for m in mcs_set]
    scores = np.stack(
        [2.0 * (o.retrieved[:, 0] == labels) + (o.retrieved == labels[:, None]).any(1) for o in fixed]
    )
    pick = np.argmax(scores, axis=0)
    rows = np.arange(len(labels))
    np.testing.assert_array_equal(fast_r, np.stack([o.retrieved for o in fixed])[pick, rows])
    np.testing.assert_array_equal(fast_x["mcs_used"], np.asarray(mcs_set, float)[pick])
    out = system.evaluate(cell, ctx)
    np.testing.assert_array_equal(out.retrieved, full_r)
