"""``kbsc bench``'s ``gpu`` section: what one GPU does for this testbed. Written only where torch sees a GPU;
absent (not null, not zero) on a CPU-only machine, so a report never holds a GPU figure that was not measured.

* ``device``: the GPU (:func:`kbsc.util.device.describe_device`);
* ``extractor_images_per_s``: images per second through the stand-in and CLIP ViT-B/32's architecture (random
  weights: the cost does not depend on them), fp32 and fp16 autocast, batch 256, inputs already on the GPU;
* ``train_steps_per_s``: optimizer steps per second of every learned family's own trainer
  (:mod:`kbsc.tools.train_speed`) with the device set to the GPU; ``train_on_gpu`` says, per family, whether
  its model really sat on the GPU (a trainer that ignores the device is not reported as a GPU figure);
* ``ldpc``: Sionna's LDPC decoder on the GPU (flooding, 20 iterations, batch 4,096 codewords) on the quick
  preset's transport-block codes, in information Mbit/s, beside our CPU engine on the same code and LLRs;
* ``paper_grid``: the paper grid's estimated wall time on "1 GPU + the machine's cores"
  (:func:`gpu_grid_estimate`), with the stand-in and with CLIP ViT-B/32.

``kbsc estimate`` prints the "1 GPU + cores" figure whenever the bench report it reads has this section.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from kbsc.experiments.config import load_config
from kbsc.features.standin import StandinConfig
from kbsc.features.standin_net import StandinNet
from kbsc.nrlink.ldpc import make_ldpc_decoder
from kbsc.nrlink.link import DEFAULT_DECODER, shared_link
from kbsc.tools import train_speed
from kbsc.tools.estimate import gpu_clip_extras, gpu_grid_estimate, gpu_speedups
from kbsc.tools.feature_cost import random_clip_vit_b32
from kbsc.tools.ldpc_bench import awgn_llrs
from kbsc.util.device import autocast, current_device, describe_device, using_device

__all__ = ["gpu_available", "gpu_section"]


def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU."""
    import torch

    return bool(torch.cuda.is_available())


def _rate(fn: Callable[[], Any], n: int, device: Any, repeats: int = 3) -> float:
    """Items per second of ``fn`` (``n`` items per call): best of ``repeats`` after a warm-up call."""
    import torch

    with torch.inference_mode():
        fn()
        torch.cuda.synchronize(device)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - t0)
    return n / best


def extractor_rates(device: Any, batch: int = 256) -> dict[str, dict[str, float]]:
    """Images per second of the stand-in and of CLIP ViT-B/32's architecture on ``device``, fp32 and fp16."""
    import torch

    out: dict[str, dict[str, float]] = {}
    torch.manual_seed(0)
    standin = StandinConfig().build().eval().to(device)
    imgs = torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, device=device)
    clip = random_clip_vit_b32().model.eval().to(device)
    pixels = torch.rand(batch, 3, 224, 224, device=device)
    nets = {
        "standin": lambda: standin(StandinNet.scale(imgs)),
        "clip-vit-b32": lambda: clip(pixel_values=pixels).image_embeds,
    }
    for name, fn in nets.items():
        out[name] = {}
        for precision in ("fp32", "fp16"):

            def run(fn=fn, precision=precision) -> Any:
                with autocast(device, precision):
                    return fn()

            out[name][precision] = round(_rate(run, batch, device), 1)
    return out


def training_rates(device: Any, quick: bool) -> tuple[dict[str, float], dict[str, bool]]:
    """Steps per second of every learned family's trainer with the device set to ``device``, and whether
    each model was on the GPU while it trained."""
    import torch

    on_gpu: dict[str, bool] = {}
    original = train_speed._time_job

    def time_job(job, steps: int, warmup: int = 3):  # records where the trainer put its model
        task = job.task()
        dev = next(task.model.parameters()).device
        job.task = lambda task=task: task
        rate = original(job, steps, warmup)
        time_job.device = dev  # type: ignore[attr-defined]
        return rate

    rates: dict[str, float] = {}
    steps = 5 if quick else 20
    train_speed._time_job = time_job
    try:
        with using_device(device), torch.random.fork_rng(devices=[]):
            for name, fn in train_speed.MODELS.items():
                time_job.device = None  # type: ignore[attr-defined]
                r = fn(steps)
                rates[name] = round(r.wall, 2)
                dev = time_job.device  # type: ignore[attr-defined]
                on_gpu[name] = bool(dev is not None and dev.type == "cuda")
    finally:
        train_speed._time_job = original
    return rates, on_gpu


def ldpc_rates(device: Any, quick: bool) -> list[dict[str, Any]]:
    """Sionna's LDPC decoder on the GPU vs our CPU engine on the quick preset's transport-block codes
    (k = 1,536 channel uses at MCS 4 and 10), same LLRs: information Mbit/s."""
    import torch
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

    rows = []
    n_cw = 1024 if quick else 4096
    for mcs in (4, 10):
        cb = shared_link(1536, mcs).encoder._encoder  # one code block of the transport block
        k, n = int(cb.k), int(cb.n)
        enc = LDPC5GEncoder(k, n)
        _, llr = awgn_llrs(enc, 4.0, n_cw, seed=mcs)
        gpu_dec = LDPC5GDecoder(LDPC5GEncoder(k, n, device=str(device)), num_iter=20, device=str(device))
        llr_gpu = llr.to(device)
        gpu = _rate(lambda d=gpu_dec, x=llr_gpu: d(x), n_cw, device) * k / 1e6
        cpu_dec = make_ldpc_decoder(DEFAULT_DECODER, enc, num_iter=20)
        cpu_dec(llr[:2])
        t0 = time.perf_counter()
        cpu_dec(llr)
        cpu = n_cw * k / (time.perf_counter() - t0) / 1e6
        rows.append(
            {
                "mcs": mcs,
                "k": k,
                "n": n,
                "codewords": n_cw,
                "sionna_gpu_mbit_s": round(gpu, 2),
                "engine_cpu_mbit_s": round(cpu, 2),
                "engine": DEFAULT_DECODER,
                "torch_threads": torch.get_num_threads(),
            }
        )
    return rows


def gpu_section(report: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Measure the section on this process's GPU (the device setting when it is CUDA, else GPU 0) and add
    the "1 GPU + cores" paper estimates from the report's grid and features sections."""
    import os

    import torch

    dev = current_device()
    if dev.type != "cuda":
        dev = torch.device("cuda", 0)
    section: dict[str, Any] = {"device": describe_device(dev), "errors": {}}
    steps: dict[str, Callable[[], Any]] = {
        "extractor_images_per_s": lambda: extractor_rates(dev),
        "ldpc": lambda: ldpc_rates(dev, quick),
    }
    for key, fn in steps.items():
        try:
            section[key] = fn()
        except Exception as exc:  # keep measuring the others
            section["errors"][key] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        rates, on_gpu = training_rates(dev, quick)
        section["train_steps_per_s"] = rates
        section["train_on_gpu"] = on_gpu
    except Exception as exc:
        section["errors"]["train_steps_per_s"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        section["paper_grid"] = _paper_estimates(report, section, os.cpu_count() or 1)
    except Exception as exc:
        section["errors"]["paper_grid"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return section


def _paper_estimates(report: dict[str, Any], section: dict[str, Any], cores: int) -> dict[str, Any]:
    grid = report.get("grid") or {}
    if not grid.get("per_image"):
        raise ValueError("the bench's grid section is missing")
    per_image = pd.DataFrame(grid["per_image"])
    eff = float(grid.get("parallel_efficiency") or 1.0)
    speedup = gpu_speedups((report.get("complexity") or {}).get("systems") or [])
    cfg = load_config("paper")
    out = {
        "speedup_by_system": speedup,
        "stand-in": gpu_grid_estimate(per_image, cfg, cores, eff, speedup),
    }
    extras = gpu_clip_extras(report, section)
    if extras:
        out["clip"] = gpu_grid_estimate(per_image, cfg, cores, eff, speedup, *extras)
    out["wall_s"] = out["stand-in"]["wall_s"]
    out["wall_s_clip"] = (out.get("clip") or {}).get("wall_s")
    return out


def summary_lines(section: dict[str, Any]) -> list[str]:
    """The lines ``kbsc bench`` prints for the section."""
    dev = section.get("device") or {}
    lines = [f"  GPU: {dev.get('name')} (torch {dev.get('torch')}, CUDA {dev.get('cuda')})"]
    for name, r in (section.get("extractor_images_per_s") or {}).items():
        lines.append(f"    {name} images/s: fp32 {r.get('fp32')}, fp16 {r.get('fp16')}")
    if section.get("train_steps_per_s"):
        on = section.get("train_on_gpu") or {}
        parts = [
            f"{k} {v}" + ("" if on.get(k) else " (model not on the GPU)")
            for k, v in section["train_steps_per_s"].items()
        ]
        lines.append("    training steps/s: " + ", ".join(parts))
    for r in section.get("ldpc") or []:
        lines.append(
            f"    LDPC (k={r['k']}, n={r['n']}): Sionna on the GPU {r['sionna_gpu_mbit_s']} Mbit/s, "
            f"our engine on the CPU {r['engine_cpu_mbit_s']} Mbit/s"
        )
    pg = section.get("paper_grid") or {}
    if pg.get("wall_s") is not None:
        cores = (pg.get("stand-in") or {}).get("cores")
        clip = f", with CLIP ViT-B/32 {pg['wall_s_clip']:.0f} s" if pg.get("wall_s_clip") else ""
        lines.append(f"    paper grid on 1 GPU + {cores} cores: {pg['wall_s']:.0f} s (stand-in){clip}")
    if section.get("errors"):
        lines.append("    not measured: " + "; ".join(f"{k} ({v})" for k, v in section["errors"].items()))
    return lines
