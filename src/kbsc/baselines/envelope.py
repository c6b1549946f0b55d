"""The best-MCS genie envelope of ``hevc+ldpc-best``, evaluated with early stopping.

**Definition (unchanged).** Per image, the outcome of the MCS in ``mcs_set`` with the highest score
(:meth:`~kbsc.baselines.pipeline.CellResult.score`: top-1 correct, then top-5 correct, then PSNR); among equal
scores the MCS listed first in ``mcs_set`` wins. The exhaustive evaluation runs every image through every MCS.

**Early stopping.** The MCS indices are evaluated from the largest transport block down, each over the images
still running only (the link, the bridge and the codec act per image: an image's outcome does not depend on
which other images share its batch). An image stops once its best outcome so far is *delivered* and top-1
correct with PSNR ``P`` from the MCS at position ``p`` of ``mcs_set``, and no MCS ``m'`` still to run can
beat it. Every outcome of ``m'`` scores at most ``1e6 + 1e3 + PSNR`` of what arrives, and what arrives is
the payload ``q'`` that the quality search picks under ``m'``'s budget (computed here: a payload-cache
lookup), either intact (PSNR = ``psnr(q')``, known without the link) or damaged and concealed. So ``m'``
cannot change the image's result when it sends nothing, or when ``psnr(q') < P - eps``. ``eps`` (1e-3 dB)
keeps float rounding of equal PSNRs (e.g. the same QP under a smaller budget, where the tie would go to the
MCS listed first) on the safe side: such an ``m'`` is run.

**Deferred features.** A concealed failure's PSNR is known once it is decoded, but its retrieval needs the
extractor (the costly part with CLIP). Its score is at most ``1e6 + 1e3 + PSNR``, so its features are left
until the end and computed only while that bound can still beat (or tie from an earlier listing) the best
resolved outcome of its image; the rest cannot win. This part is exact without any assumption. The MS-SSIM
of a concealed outcome (not part of the score) is computed only for those that win their image.

Early stopping is exact for ``failure="miss"``. With ``failure="conceal"`` it rests on one property of the
decoder: a damaged stream, concealed, is not closer to the source image than the same stream intact (an
assumption about libde265's concealment, not a theorem). :func:`concealment_violations` counts
counterexamples on a cell's outcomes, and the integration test compares the early-stopped table with the
exhaustive one cell by cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kbsc.baselines.cache import image_key
from kbsc.baselines.codecs import Encoded
from kbsc.baselines.envelope_store import EnvelopeStore, envelope_key
from kbsc.baselines.pipeline import BaselineRunner, CellResult
from kbsc.errors import ConfigError
from kbsc.metrics.image import ms_ssim, psnr

__all__ = ["EPS_DB", "best_over_mcs", "concealment_violations", "score_bound"]

#: PSNR margin (dB) below which a smaller budget's intact PSNR is taken as unable to reach the current best
EPS_DB = 1e-3


def score_bound(p: np.ndarray) -> np.ndarray:
    """The highest score an outcome with PSNR ``p`` can have (top-1 and top-5 correct)."""
    return 1e6 + 1e3 + np.asarray(p, dtype=np.float64)


def _intact_psnr(runner: BaselineRunner, images: np.ndarray, keys: list[str], encs) -> np.ndarray:
    """PSNR of the intact decoding of each :class:`Encoded` payload (NaN for None), as a delivered outcome
    would carry it; kept per (image, quality) on the runner."""
    out = np.full(len(encs), np.nan)
    cache = runner.__dict__.setdefault("_intact_psnr_cache", {})
    todo = []
    for i, (key, e) in enumerate(zip(keys, encs, strict=True)):
        if e is None:
            continue
        hit = cache.get((key, e.quality))
        if hit is None:
            todo.append(i)
        else:
            out[i] = hit
    for i in todo:
        dec = runner.codec.decode(encs[i].payload, images.shape[1:])
        if dec is None:
            raise ConfigError(f"codec {runner.codec.name!r} cannot decode its own payload")
        # float32 round trip: the delivered outcome's PSNR comes from the float32 decoded-image cache
        v = float(np.float32(psnr(images[i : i + 1], dec[None])[0]))
        cache[(keys[i], encs[i].quality)] = v
        out[i] = v
    return out


def best_over_mcs(
    runner: BaselineRunner,
    images: np.ndarray,
    image_ids: np.ndarray,
    labels: np.ndarray,
    k: int,
    snr_db: float,
    bridge,
    mcs_set: list[int],
    extractor,
    kb,
    fallback: np.ndarray,
    early_stop: bool = True,
) -> tuple[CellResult, dict[str, int]]:
    """The envelope over ``mcs_set`` (see the module docstring) and counters: ``links`` = image-links run,
    ``exhaustive_links`` = what the exhaustive evaluation runs, ``memo_hit`` = 1 when the result came from
    the on-disk memo (:mod:`kbsc.baselines.envelope_store`; used with ``early_stop`` and a runner with a
    cache directory; the exhaustive evaluation, the reference, always computes)."""
    if not mcs_set:
        raise ConfigError("mcs_set must list at least one MCS index")
    if not early_stop or runner.cache_dir is None:
        return _best_over_mcs(
            runner, images, image_ids, labels, k, snr_db, bridge, mcs_set, extractor, kb, fallback, early_stop
        )

    store = EnvelopeStore(runner.cache_dir)
    key = envelope_key(runner, images, image_ids, labels, k, snr_db, bridge, mcs_set, extractor, kb, fallback)
    hit = None if key is None else store.get(key)
    if hit is not None:
        return hit, {"links": 0, "exhaustive_links": len(images) * len(set(mcs_set)), "memo_hit": 1}
    res, counts = _best_over_mcs(
        runner, images, image_ids, labels, k, snr_db, bridge, mcs_set, extractor, kb, fallback, early_stop
    )
    if key is not None:
        store.put(key, res)
    return res, {**counts, "memo_hit": 0}


def _best_over_mcs(
    runner: BaselineRunner,
    images: np.ndarray,
    image_ids: np.ndarray,
    labels: np.ndarray,
    k: int,
    snr_db: float,
    bridge,
    mcs_set: list[int],
    extractor,
    kb,
    fallback: np.ndarray,
    early_stop: bool,
) -> tuple[CellResult, dict[str, int]]:
    """:func:`best_over_mcs` without the memo."""
    n = len(images)
    labels = np.asarray(labels, dtype=np.int64)
    ids = np.asarray(image_ids)
    pos = {m: j for j, m in reversed(list(enumerate(mcs_set)))}  # first listing of an index
    order = sorted(pos, key=pos.__getitem__)
    if early_stop:
        order.sort(key=lambda m: (-runner.link(k, m).payload_bits, pos[m]))
    keys = [image_key(im) for im in images]
    best_score = np.full(n, -np.inf)
    best_pos = np.full(n, len(mcs_set), dtype=np.int64)
    retrieved: np.ndarray | None = None
    extras: dict[str, np.ndarray] = {}
    active = np.ones(n, dtype=bool)
    reach: dict[tuple[int, int], float] = {}  # (image, MCS) -> intact PSNR of what that budget would send
    # concealed outcomes not yet through the extractor: (image, MCS position, score bound, decoded, extras)
    deferred: list[tuple[int, int, float, np.ndarray, dict[str, Any]]] = []
    shown: dict[int, np.ndarray] = {}  # image -> its winning concealed decoding (MS-SSIM still to compute)
    links = 0

    def _merge(where, ok, score, p, rows, ex) -> np.ndarray:
        """Take outcome ``rows[j]`` (MCS position ``p``) for image ``where[j]`` where it beats the best
        (returned: where it did)."""
        take = ok & ((score > best_score[where]) | ((score == best_score[where]) & (p < best_pos[where])))
        sel = where[take]
        retrieved[sel] = rows[take]
        for name, arr in ex.items():
            extras[name][sel] = arr[take]
        best_score[sel] = score[take]
        best_pos[sel] = p
        return take

    for step, m in enumerate(order):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        res = runner.run_fixed(
            images[idx], ids[idx], k, snr_db, bridge, m, extractor, kb, fallback, defer_concealed=early_stop
        )
        links += len(idx)
        if retrieved is None:
            retrieved = np.full((n, res.retrieved.shape[1]), -1, dtype=res.retrieved.dtype)
            extras = {name: np.zeros(n, dtype=arr.dtype) for name, arr in res.extras.items()}
        score = res.score(labels[idx])
        resolved = np.ones(len(idx), dtype=bool)
        for j, img in res.pending.items():  # concealed: features only if it can still win (at the end)
            resolved[j] = False
            row = {name: arr[j] for name, arr in res.extras.items()}
            deferred.append((int(idx[j]), pos[m], float(score_bound(res.extras["psnr"][j])), img, row))
        _merge(idx, resolved, score, pos[m], res.retrieved, res.extras)
        rest = order[step + 1 :]
        if not early_stop or not rest:
            continue
        done = (
            (extras["sent"][idx] == 1) & (extras["tb_error"][idx] == 0) & (retrieved[idx, 0] == labels[idx])
        )
        cand = idx[done]
        if not len(cand):
            continue
        p_best = extras["psnr"][cand]
        blocked = np.zeros(len(cand), dtype=bool)
        for m2 in rest:
            todo = [i for i in cand if (i, m2) not in reach]
            if todo:
                tk = [keys[i] for i in todo]
                encs = runner.encode(images[todo], np.array(runner.link(k, m2).payload_bits), tk)
                u = _intact_psnr(runner, images[todo], tk, encs)
                for j, i in enumerate(todo):  # -inf: nothing sent, so nothing can arrive
                    reach[(i, m2)] = -np.inf if encs[j] is None else u[j]
            u_all = np.array([reach[(i, m2)] for i in cand])
            blocked |= ~(u_all < p_best - EPS_DB)  # NaN blocks too
        active[cand[~blocked]] = False
    # Deferred concealed outcomes: resolve (features, retrieval) those whose bound can still beat the best
    # outcome of their image, until none can. A bound is an upper limit, so the rest cannot win.
    while deferred:

        def open_(d) -> bool:
            return d[2] > best_score[d[0]] or (d[2] == best_score[d[0]] and d[1] < best_pos[d[0]])

        todo = [d for d in deferred if open_(d)]
        if not todo:
            break
        deferred = [d for d in deferred if not open_(d)]
        rows = runner.retrieve(extractor, kb, np.stack([d[3] for d in todo]))
        for j, (i, p, _, img, row) in enumerate(todo):
            ex = {name: np.asarray([v]) for name, v in row.items()}
            one = CellResult(retrieved=rows[j : j + 1], extras=ex)
            if _merge(np.array([i]), np.array([True]), one.score(labels[[i]]), p, rows[j : j + 1], ex)[0]:
                shown[i] = img
    # MS-SSIM of the concealed outcomes that won (run_fixed leaves it to the caller with defer_concealed;
    # per image, as every metric here: the same number as in the exhaustive evaluation's batches)
    if shown:
        sel = np.array(sorted(shown))
        extras["ms_ssim"][sel] = ms_ssim(images[sel], np.stack([shown[i] for i in sel]))
    runner.flush()
    assert retrieved is not None
    counts = {"links": links, "exhaustive_links": n * len(order)}
    return CellResult(retrieved=retrieved, extras=extras), counts


def concealment_violations(res: CellResult, images: np.ndarray, runner: BaselineRunner) -> int:
    """Images of a fixed-MCS cell whose concealed (failed) decoding has a higher PSNR than the same payload
    intact would have had: counterexamples to the property early stopping relies on under concealment."""
    ex = res.extras
    bad = np.flatnonzero((ex["sent"] == 1) & (ex["tb_error"] == 1))
    if not len(bad):
        return 0
    keys = [image_key(images[i]) for i in bad]
    encs = []
    for key, i in zip(keys, bad, strict=True):
        q = int(ex["qp"][i])
        payload = runner.payloads.encode(images[i], q, key)
        encs.append(Encoded(payload=payload, bits=8 * len(payload), quality=q))
    u = _intact_psnr(runner, images[bad], keys, encs)
    return int(np.sum(ex["psnr"][bad] > u))
