"""Side-by-side benchmark of Sionna's 5G LDPC decoder and the engine's schedules on identical LLRs.

``bench_decoders()`` is what ``kbsc bench`` calls for the decoder part. For each code (default: the link's own
short low-rate codes k=240/n=768 (MCS 4 at CBR 1/8) and k=528/n=1536 (MCS 10 at CBR 1/8), k=1024/n=2048 on
base graph 2 and k=3840/n=7680 on base graph 1; :data:`BENCH_CODES`) it picks three Eb/N0 points spanning
BLER ≈ 50 % … < 1 %
(a quick search with the flooding engine, which makes Sionna's decisions), draws BPSK/AWGN LLRs once per
point, and feeds the SAME LLRs to every decoder: information bits/s, mean iterations, BLER with Wilson
intervals and codeword-decision agreement with Sionna.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from kbsc.metrics.retrieval import wilson_interval as _wilson
from kbsc.nrlink.ldpc.registry import DEFAULT_LDPC_DECODER, make_ldpc_decoder
from kbsc.util import progress

ENGINE_SCHEDULES = ("flooding", "layered", "layered-oms")
#: The frame-vectorized decoders (lanes.py) the bench also runs: offset min-sum (layered-oms' decisions), the
#: per-base-graph tuned min-sum and the opt-in int8/int16 one.
LANE_DECODERS = ("lanes-oms", "lanes-cms", "lanes-cms16", "lanes-q8")
#: Every engine decoder in the per-point table (and the throughput figures).
TABLE_DECODERS = ENGINE_SCHEDULES + LANE_DECODERS
#: (k, n) of the benchmarked codes: the link's own (TB + CRC bits, k data REs x Qm) and two longer ones
LINK_CODES = ((240, 768), (528, 1536))
BENCH_CODES = (*LINK_CODES, (1024, 2048), (3840, 7680))


def wilson_interval(errors: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion; ``(0, 1)`` when there are no trials.

    :func:`kbsc.metrics.retrieval.wilson_interval` at the confidence level of ±``z`` standard deviations.
    """
    if trials <= 0:
        return 0.0, 1.0
    return _wilson(errors, trials, confidence=math.erf(z / math.sqrt(2.0)))


def awgn_llrs(encoder, ebno_db: float, num_codewords: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random information bits and their BPSK/AWGN channel LLRs in Sionna's convention.

    Returns (bits [B, k] float32, llr [B, n] float32 = log p(1)/p(0) = -2y/σ², Eb/N0 at code rate k/n).
    """
    k, n = int(encoder.k), int(encoder.n)
    gen = torch.Generator().manual_seed(int(seed))
    bits = torch.randint(0, 2, (num_codewords, k), generator=gen).to(torch.float32)
    x = 1.0 - 2.0 * encoder(bits)
    sigma2 = 1.0 / (2.0 * (k / n) * 10.0 ** (ebno_db / 10.0))
    y = x + math.sqrt(sigma2) * torch.randn(x.shape, generator=gen)
    return bits, (-2.0 / sigma2 * y).to(torch.float32)


def pick_snrs(
    encoder, num_iter: int = 20, num_codewords: int = 512, seed: int = 0, step: float = 0.1
) -> list[float]:
    """Three Eb/N0 points (dB) where the flooding engine's BLER is ≈ 50 %, ≈ 10 % and < 1 % (≤ 0.2 %)."""
    dec = make_ldpc_decoder("flooding", encoder, num_iter=num_iter)
    grid, blers = [], []
    ebno = -0.5
    while ebno < 8.0:
        bits, llr = awgn_llrs(encoder, ebno, num_codewords, seed + 7919)
        bler = float((dec(llr) != bits).any(dim=1).float().mean())
        grid.append(round(ebno, 3))
        blers.append(bler)
        if bler <= 0.002:
            break
        ebno += step if bler < 0.9 else 4 * step
    blers_a = np.asarray(blers)
    hi = grid[-1]
    mid = grid[int(np.argmin(np.abs(blers_a - 0.1)))]
    lo = grid[int(np.argmin(np.abs(blers_a - 0.5)))]
    pts = sorted({lo, mid, hi})
    while len(pts) < 3:  # a very steep code: spread around the high point
        pts = sorted(set(pts) | {round(min(pts) - step, 3)})
    return pts


def _timed(dec, llr: torch.Tensor) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    out = dec(llr)
    return out, time.perf_counter() - t0


def compile_times(encoder, num_iter: int = 20, cold: bool = True) -> dict:
    """First-call time of each engine schedule in this process (numba's on-disk cache), and optionally the
    cold compile time measured in a subprocess with an empty cache directory."""
    out: dict = {"first_call_s": {}}
    llr = torch.zeros(2, int(encoder.n))
    for sch in ENGINE_SCHEDULES:
        dec = make_ldpc_decoder(sch, encoder, num_iter=num_iter)
        _, dt = _timed(dec, llr)
        out["first_call_s"][sch] = round(dt, 3)
    if cold:
        code = (
            "import time, torch; from sionna.phy.fec.ldpc import LDPC5GEncoder; "
            "from kbsc.nrlink.ldpc import make_ldpc_decoder; "
            f"e = LDPC5GEncoder({int(encoder.k)}, {int(encoder.n)}); t = time.time(); "
            f"[make_ldpc_decoder(s, e)(torch.zeros(2, e.n)) for s in {ENGINE_SCHEDULES!r}]; "
            "print(time.time() - t)"
        )
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        try:
            out["cold_compile_s"] = round(float(res.stdout.strip().splitlines()[-1]), 2)
        except (ValueError, IndexError):
            out["cold_compile_s"] = None
    return out


def bench_decoders(
    codes=BENCH_CODES,
    num_codewords: int = 2048,
    snrs=None,
    num_iter: int = 20,
    seed: int = 0,
    show_progress: bool = True,
    sionna_codewords: int | None = None,
    cold_compile: bool = True,
    repeats: int = 3,
) -> dict:
    """Benchmark Sionna's decoder against the engine's schedules on identical LLRs (see module docstring).

    codes: (k, n) pairs; snrs: None (search) or one list of Eb/N0 dB per code; sionna_codewords: how many
    of the codewords Sionna decodes (None: all, but at most ~2 Mbit of information per point). Returns a
    JSON-able dict with the per-point ``table`` and the summary keys ``decoder_speedup_flooding``,
    ``decoder_speedup_layered``, ``decoder_speedup_default`` (min over points where Sionna's BLER < 1 %),
    ``flooding_decision_agreement``
    (min over points), ``default_bler_ratio`` (max over points of BLER(default) / BLER(Sionna)), and
    ``fixed_iter_mbps`` / ``early_stop_mbps``: {decoder: {"k/n": information Mbit/s}} at ``num_iter`` fixed
    iterations and with early termination, on the middle point's LLRs (best of ``repeats`` calls).
    """
    import numba
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    t_start = time.perf_counter()
    result: dict = {
        "num_iter": num_iter,
        "num_codewords": num_codewords,
        "default_schedule": DEFAULT_LDPC_DECODER,
        "threads": {
            "numba": numba.get_num_threads(),
            "torch": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
        },
        "table": [],
        "codes": [],
        "fixed_iter_mbps": {},
        "early_stop_mbps": {},
    }
    encoders = [LDPC5GEncoder(int(k), int(n)) for k, n in codes]
    result["compile"] = compile_times(encoders[0], num_iter, cold=cold_compile)
    for ci, enc in enumerate(encoders):
        k = int(enc.k)
        pts = list(snrs[ci]) if snrs is not None else pick_snrs(enc, num_iter, seed=seed)
        n_s = sionna_codewords or min(num_codewords, max(256, 2_000_000 // k))
        result["codes"].append(
            {
                "k": k,
                "n": int(enc.n),
                "bg": str(enc._bg),
                "z": int(enc.z),
                "ebno_db": pts,
                "sionna_codewords": n_s,
            }
        )
        decs = {
            name: make_ldpc_decoder(name, enc, num_iter=num_iter) for name in ("sionna",) + TABLE_DECODERS
        }
        for pi, ebno in enumerate(progress(pts, desc=f"LDPC bench k={k}", disable=not show_progress)):
            bits, llr = awgn_llrs(enc, ebno, num_codewords, seed + 1000 * ci + pi)
            decs["sionna"](llr[:2])  # warm-up (first eager call)
            ref, t_ref = _timed(decs["sionna"], llr[:n_s])
            err_ref = int((ref != bits[:n_s]).any(dim=1).sum())
            row = {"k": k, "n": int(enc.n), "ebno_db": ebno, "decoders": {}}
            row["decoders"]["sionna"] = _entry(err_ref, n_s, n_s * k / t_ref, float(num_iter), 1.0)
            for name in TABLE_DECODERS:
                out, dt = _timed(decs[name], llr)
                err = int((out != bits).any(dim=1).sum())
                agree = float((out[:n_s] == ref).all(dim=1).float().mean())
                row["decoders"][name] = _entry(
                    err, num_codewords, num_codewords * k / dt, decs[name].last_num_iter, agree
                )
                row["decoders"][name]["speedup"] = round(
                    row["decoders"][name]["bits_per_s"] / row["decoders"]["sionna"]["bits_per_s"], 2
                )
            result["table"].append(row)
        # Throughput on the middle point's LLRs (BLER ≈ 10 %), best of `repeats` calls.
        _, llr_mid = awgn_llrs(enc, pts[len(pts) // 2], num_codewords, seed + 1000 * ci + 500)
        code = f"{k}/{int(enc.n)}"
        for key, early in (("fixed_iter_mbps", False), ("early_stop_mbps", True)):
            for name, mbps in throughput(enc, llr_mid, TABLE_DECODERS, num_iter, early, repeats).items():
                result[key].setdefault(name, {})[code] = mbps
    result.update(_summary(result["table"]))
    result["wall_time_s"] = round(time.perf_counter() - t_start, 1)
    return result


def throughput(
    encoder, llr: torch.Tensor, names, num_iter: int = 20, early_stop: bool = False, repeats: int = 3
) -> dict[str, float]:
    """Information Mbit/s of each engine decoder in ``names`` on ``llr`` [B, n]: best of ``repeats`` calls
    (the machine may be shared: the best call is the least disturbed one), after one warm-up call."""
    out = {}
    k = int(encoder.k)
    for name in names:
        dec = make_ldpc_decoder(name, encoder, num_iter=num_iter, early_stop=early_stop)
        dec(llr[:2])
        best = min(_timed(dec, llr)[1] for _ in range(max(1, int(repeats))))
        out[name] = round(llr.shape[0] * k / best / 1e6, 3)
    return out


def _entry(errors: int, trials: int, bits_per_s: float, mean_iter: float, agreement: float) -> dict:
    lo, hi = wilson_interval(errors, trials)
    return {
        "codewords": trials,
        "block_errors": errors,
        "bler": errors / trials,
        "bler_ci95": [lo, hi],
        "bits_per_s": bits_per_s,
        "mbit_per_s": round(bits_per_s / 1e6, 3),
        "mean_iter": round(float(mean_iter), 3),
        "agreement_with_sionna": agreement,
    }


def _summary(table: list[dict]) -> dict:
    """Headline figures over the per-point table."""
    low = [r for r in table if r["decoders"]["sionna"]["bler"] < 0.01]
    out: dict = {}
    present = [name for name in TABLE_DECODERS if table and all(name in r["decoders"] for r in table)]
    for key, name in [(n.replace("-", "_"), n) for n in present] + [("default", DEFAULT_LDPC_DECODER)]:
        sp = [r["decoders"][name]["speedup"] for r in low]
        out[f"decoder_speedup_{key}"] = min(sp) if sp else None
        out[f"decoder_speedup_{key}_per_code"] = {
            f"{r['k']}/{r['n']}": r["decoders"][name]["speedup"] for r in low
        }
    out["flooding_decision_agreement"] = min(
        r["decoders"]["flooding"]["agreement_with_sionna"] for r in table
    )
    for name in present:
        ratios = {}
        for r in table:
            code = f"{r['k']}/{r['n']}"
            here = bler_ratio(r["decoders"]["sionna"], r["decoders"][name])
            ratios[code] = max(ratios.get(code, 0.0), here)
        out[f"bler_ratio_{name.replace('-', '_')}_per_code"] = ratios
    within = []
    ratios_default = []
    for r in table:
        s, d = r["decoders"]["sionna"], r["decoders"][DEFAULT_LDPC_DECODER]
        ratios_default.append(bler_ratio(s, d))
        within.append(d["bler_ci95"][0] <= s["bler_ci95"][1])
    out["default_bler_ratio"] = max(ratios_default) if ratios_default else None
    out["default_bler_within_intervals"] = all(within)
    return out


def bler_ratio(sionna: dict, other: dict) -> float:
    """BLER(other) / BLER(Sionna) at one point; with no Sionna error seen, against the Wilson upper bound of a
    zero count (0 when ``other`` made no error either)."""
    if sionna["block_errors"] > 0:
        return other["bler"] / sionna["bler"]
    return 0.0 if other["block_errors"] == 0 else other["bler"] / sionna["bler_ci95"][1]
