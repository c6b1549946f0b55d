"""Stage timer of the conventional link (used by ``kbsc bench``): one cell of ``hevc+ldpc`` computed cold
(empty payload/feature caches) and again warm, with the per-stage seconds of both runs.

Stages: ``link_setup_s`` (TB encoder/decoder construction), ``source_encode_s`` (HEVC quality search),
``tb_encode_map_s``, ``bridge_s``, ``demap_s``, ``tb_decode_s`` (LDPC + CRC), ``decode_features_s`` (image
decoding, extractor, PSNR/MS-SSIM), ``retrieve_s``. ``link_bits_per_s`` = TB information bits / time in the
link stages (TB encoding to TB decoding); ``images_per_s`` over the whole cold cell.

``hevc_encodes_per_image`` (cold, warm): encoder calls per image of that cell's quality searches.
``hevc_grid``: the HEVC stage of a whole grid's fixed-MCS budgets per image, from an empty payload cache:
every TB size of the CBRs 1/8, 1/4, 1/2 at every MCS of :data:`~kbsc.nrlink.mcs.DEFAULT_MCS_SET`
(the budgets of ``hevc+ldpc``, ``hevc+ldpc-best`` and ``hevc+ldpc-amc``), searched image by image;
milliseconds and encoder calls per image (each (image, QP) is encoded at most once), on the first
:data:`GRID_IMAGES` images (about 40 encodes each: the figure costs ~10 s, not minutes).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.baselines.cache import PayloadStore, image_key
from kbsc.baselines.pipeline import BaselineRunner, fallback_image
from kbsc.baselines.system import open_bridge
from kbsc.nrlink.mcs import DEFAULT_MCS_SET, plan_tb

__all__ = ["bench_grid_budgets", "bench_link", "grid_budgets"]

LINK_STAGES = ("tb_encode_map_s", "bridge_s", "demap_s", "tb_decode_s")
GRID_CBRS = (1 / 8, 1 / 4, 1 / 2)
GRID_IMAGES = 50


def grid_budgets(source_dim: int, cbrs=GRID_CBRS, mcs_set=DEFAULT_MCS_SET) -> list[int]:
    """The distinct TB sizes (bits) of ``cbrs`` x ``mcs_set``, ascending."""
    return sorted({plan_tb(int(round(c * source_dim)), m).tb_size for c in cbrs for m in mcs_set})


def bench_grid_budgets(images: np.ndarray, budgets: list[int], codec: str = "hevc") -> dict[str, Any]:
    """Every image searched under every budget from an empty payload cache: ms and encodes per image."""
    with tempfile.TemporaryDirectory() as tmp:
        store = PayloadStore(BaselineRunner(codec=codec).codec, Path(tmp))
        t0 = time.perf_counter()
        for im in images:
            key = image_key(im)
            for b in budgets:
                store.encode_under_budget(im, b, key)
        sec = time.perf_counter() - t0
    n = max(len(images), 1)
    return {
        "n_images": len(images),
        "n_budgets": len(budgets),
        "ms_per_image": round(1e3 * sec / n, 2),
        "encodes_per_image": round(store.n_encoded / n, 2),
    }


def _context(quick: bool, data_dir: str | None):
    n = 100 if quick else 500
    try:
        from kbsc.workspace import prepare_workspace  # lazy: only this path needs it

        ws = prepare_workspace(data_dir=data_dir, show_progress=False)
        from kbsc.data.splits import balanced_subset  # lazy: only this path needs it

        idx = balanced_subset(ws.sender.labels, n)
        train = ws.train.images
        return ws.sender.images[idx], ws.sender.ids[idx], ws.extractor, ws.kb, train, "synthetic100"
    except Exception:  # noqa: BLE001 - no workspace: the toy world still times the link
        from kbsc.jscc.toy import toy_context  # lazy: only this path needs it

        ctx = toy_context(n=n, data_dir=".")
        return ctx.images, ctx.image_ids, ctx.extractor, ctx.kb, ctx.workspace.train.images, "toy"


def bench_link(
    quick: bool = False,
    data_dir: str | None = None,
    snr_db: float = 2.0,
    cbr: float = 0.25,
    mcs: int = 4,
    channel: str = "awgn",
    decoder: str | None = None,
) -> dict[str, Any]:
    """Time one cell cold and warm; returns stage seconds, images/s, link bits/s and the warm/cold ratio."""
    images, ids, extractor, kb, train, source = _context(quick, data_dir)
    k = int(round(cbr * int(np.prod(images.shape[1:]))))
    bridge = open_bridge(channel, "perfect", 0)
    fb = fallback_image(tuple(images.shape[1:]), train)
    opts = {} if decoder is None else {"decoder": decoder}
    with tempfile.TemporaryDirectory() as tmp:
        runs, encodes = [], []
        for _ in range(2):  # cold, then warm (new runner: only the disk caches carry over)
            runner = BaselineRunner(cache_dir=Path(tmp), **opts)
            t0 = time.perf_counter()
            res = runner.run_fixed(images, ids, k, snr_db, bridge, mcs, extractor, kb, fb)
            runs.append((time.perf_counter() - t0, res))
            encodes.append(round(runner.payloads.n_encoded / max(len(images), 1), 2))
    (cold, res), (warm, res_warm) = runs
    grid = bench_grid_budgets(images[:GRID_IMAGES], grid_budgets(int(np.prod(images.shape[1:]))))
    link_s = sum(res.timings.get(s, 0.0) for s in LINK_STAGES)
    info = float(np.sum(res.extras["info_bits"]))
    return {
        "source": source,
        "n_images": int(len(images)),
        "k": k,
        "mcs": mcs,
        "snr_db": snr_db,
        "stages": {key: round(v, 4) for key, v in res.timings.items()},
        "stages_warm": {key: round(v, 4) for key, v in res_warm.timings.items()},
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "cached_cost_ratio": round(warm / cold, 4) if cold > 0 else None,
        "hevc_encodes_per_image": {"cold": encodes[0], "warm": encodes[1]},
        "hevc_grid": grid,
        "images_per_s": round(len(images) / cold, 2),
        "images_per_s_warm": round(len(images) / warm, 2),
        "link_bits_per_s": round(info / link_s, 1) if link_s > 0 else None,
        "bler": float(np.nanmean(res.extras["tb_error"]))
        if np.isfinite(res.extras["tb_error"]).any()
        else None,
    }
