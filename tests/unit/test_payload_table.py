"""The per-image payload table (PayloadStore): the quality search served from it chooses exactly what the
codec's own search chooses, which is the exhaustive answer (the best quality that fits) wherever x265's sizes
grow monotonically with quality; its rule where they do not; and every (image, quality) is encoded at most
once across budgets, stores and processes sharing one folder."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kbsc.baselines.cache import PayloadStore, image_key
from kbsc.baselines.codecs import ImageCodec, get_codec
from kbsc.jscc.toy import toy_images


class TableCodec(ImageCodec):
    """A codec whose payload sizes come from a table (bytes per quality index); counts its encoder calls."""

    name = "table"
    qualities = tuple(range(51, -1, -1))
    steps_per_doubling = 7.0

    def __init__(self, table: dict[str, list[int]], delay: float = 0.0) -> None:
        self.table = table
        self.delay = delay
        self.calls: Counter[tuple[str, int]] = Counter()

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        key = image_key(image)
        self.calls[(key, int(quality))] += 1
        if self.delay:
            time.sleep(self.delay)
        return bytes(self.table[key][self.qualities.index(quality)])

    def decode(self, payload: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
        return None


def _exhaustive(sizes_bits: list[int], budget: int, qs: tuple[int, ...]) -> int | None:
    fit = [i for i, b in enumerate(sizes_bits) if b <= budget]
    return None if not fit else qs[fit[-1]]


def _budgets(sizes_bits: list[int]) -> list[int]:
    s = np.asarray(sizes_bits)
    return sorted({int(b) for b in np.concatenate([s, s - 1, s + 8, np.geomspace(64, 2 * s.max(), 30)])})


@pytest.fixture(scope="module")
def hevc_images():
    ims, _ = toy_images(8, seed=3)
    rng = np.random.default_rng(5)
    noisy = np.clip(ims.astype(int) + rng.integers(-25, 26, ims.shape), 0, 255).astype(np.uint8)
    return np.concatenate([ims, noisy])


def test_cached_search_equals_codec_search_and_exhaustive_where_unambiguous(hevc_images, tmp_path):
    """16 images x every QP encoded once; for ~100 budgets per image the cached choice is the codec's own
    search (same QP, same payload), and it is the exhaustive best-fitting QP whenever the qualities that fit
    the budget are the lowest ones (no better QP fits below a worse one that does not: no ambiguity)."""
    codec = get_codec("hevc")
    qs = codec.qualities
    store = PayloadStore(codec, tmp_path)
    n_clear = n_all = 0
    for im in hevc_images:
        key = image_key(im)
        sizes = [codec.count_bits(store.encode(im, q, key)) for q in qs]
        table = {q: store.get(key, q) for q in qs}
        for budget in _budgets(sizes):
            got = store.encode_under_budget(im, budget, key)
            ref = codec.encode_under_budget(im, budget, encode=lambda _im, q, t=table: t[q])
            assert (got is None) == (ref is None)
            if got is not None:
                assert (got.quality, got.payload) == (ref.quality, ref.payload)
                assert got.bits <= budget and got.payload == table[got.quality]
            fit = [i for i, b in enumerate(sizes) if b <= budget]
            n_all += 1
            if fit == list(range(len(fit))):  # the qualities that fit are a prefix
                n_clear += 1
                assert (None if got is None else got.quality) == _exhaustive(sizes, budget, qs)
    assert n_clear >= 0.8 * n_all  # the unambiguous case is most budgets
    assert store.n_encoded == len(hevc_images) * len(qs)  # the searches themselves encoded nothing


def test_rule_where_sizes_are_not_monotone():
    """x265 has steps the other way (a better QP a few bytes smaller: 88 of 150 synthetic100 images, up to 5
    QPs apart). The rule: bracket a boundary (a quality that fits, the next one that does not; the probes
    depend only on the sizes), then take the quality two steps above it if that fits. So the choice always
    fits, and equals the exhaustive one when the sizes are monotone; inside a dip it can stop short, and
    nothing is sent when the lowest quality does not fit even if the next one would."""
    im = np.zeros((4, 4, 3), np.uint8)
    key = image_key(im)
    base = [40 + 4 * i for i in range(52)]  # bytes per quality index, monotone
    dip = list(base)
    dip[20], dip[21], dip[22] = 130, 124, 125  # 21 and 22 are smaller than 20 (and 23 = 132)
    codec = TableCodec({key: dip})
    qs = codec.qualities

    def idx(budget_bytes: int, c: ImageCodec = codec) -> int | None:
        e = c.encode_under_budget(im, 8 * budget_bytes)
        return None if e is None else qs.index(e.quality)

    def best(budget_bytes: int, sizes: list[int]) -> int | None:
        q = _exhaustive(sizes, budget_bytes, qs)
        return None if q is None else qs.index(q)

    assert idx(124) == best(124, dip) == 21  # boundary 21 | 22
    assert idx(129) == best(129, dip) == 22  # boundary 19 | 20, two steps above fits
    assert idx(126) == 21 and best(126, dip) == 22  # boundary 19 | 20 + 2 lands inside the dip, short of 22
    deep = list(base)
    deep[10:14] = [200] * 4  # a 4-step bump: its boundary above (13 | 14 ... ) is found by the probes
    assert idx(97, TableCodec({key: deep})) == best(97, deep) == 14
    low = [50, 40] + base[2:]  # QP 51 larger than QP 50
    assert idx(45, TableCodec({key: low})) is None and best(45, low) == 1


def _worker(folder: str, table: dict[str, list[int]], images: np.ndarray, budgets: list[int], q) -> None:
    codec = TableCodec(table, delay=0.002)
    store = PayloadStore(codec, Path(folder))
    for b in budgets:
        for im in images:
            store.encode_under_budget(im, b)
    q.put(dict(codec.calls))


def test_each_image_quality_encoded_once_across_budgets_stores_and_processes(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    table = {}
    for im in images:
        start = int(rng.integers(20, 60))
        table[image_key(im)] = [int(start * 2 ** (i / 7)) for i in range(52)]
    budgets = [8 * b for b in (30, 75, 120, 300, 301, 900, 5000)]
    # one store, many budgets, then a second store on the same folder (a later cell or run)
    codec = TableCodec(table)
    store = PayloadStore(codec, tmp_path / "a")
    for b in budgets:
        for im in images:
            store.encode_under_budget(im, b)
    assert max(codec.calls.values()) == 1 and store.n_encoded == len(codec.calls)
    again = TableCodec(table)
    store2 = PayloadStore(again, tmp_path / "a")
    for b in budgets:
        for im in images:
            store2.encode_under_budget(im, b)
    assert not again.calls
    # two processes at once, budgets in opposite orders: the union of their encoder calls has no repeat
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(tmp_path / "b"), table, images, order, q))
        for order in (budgets, budgets[::-1])
    ]
    for p in procs:
        p.start()
    calls = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    total = Counter(calls[0]) + Counter(calls[1])
    assert total and max(total.values()) == 1
    assert set(total) == set(codec.calls)  # together they encoded exactly what one process did


def test_grid_budget_figure_counts_each_quality_once():
    from kbsc.tools.link_bench import bench_grid_budgets, grid_budgets

    budgets = grid_budgets(3072)
    assert budgets == sorted(set(budgets)) and len(budgets) > 20 and budgets[0] > 0
    ims, _ = toy_images(3, seed=1)
    fig = bench_grid_budgets(ims, budgets[:12], codec="jpeg")
    assert fig["n_budgets"] == 12 and fig["n_images"] == 3 and fig["ms_per_image"] > 0
    assert 1 <= fig["encodes_per_image"] <= len(get_codec("jpeg").qualities)
