#!/usr/bin/env python3
"""`make gpu-check`: does kbsc work on this machine's GPU, and how fast? One verdict per item, < 8 minutes.

Items (docs/gpu.md states the tolerances):

1. device     -- torch sees a CUDA GPU; what kbsc would use (name, memory, torch/CUDA versions);
2. weights    -- a JSCC model trained on the GPU saves host tensors, loads on the CPU and back bit for
                 bit, and gives the same images on both (PSNR within 0.1 dB); a checkpoint written on the
                 GPU resumes on the CPU;
3. faiss      -- the knowledge base's GPU flat search gives the CPU's neighbours (up to float near-ties);
                 skipped where FAISS is the CPU build (the knowledge base then searches on the CPU);
4. bench      -- extractor images/s (stand-in; CLIP ViT-B/32 architecture at fp32 and fp16) and training
                 steps/s of every learned family on the GPU, against the issue's targets;
5. slice      -- a slice of the quick preset run on the CPU and on the GPU: realizations (fingerprints)
                 and the conventional link's bits and images identical, every system's top-1 within the
                 CPU cell's 95 % interval, PSNR within 0.1 dB where both runs use the same (committed
                 reference) weights.

Without a CUDA GPU (or without torch) it prints one line and exits 0.

It needs, beyond a CUDA torch (>= 2.9.1), numpy, pandas, pyarrow, scipy, numba, matplotlib and transformers,
the wheels that ``--list-wheels`` prints (about 32 MB; FAISS is the CPU build, so item 3 is then skipped).
Where there is no package index, bring them in a folder and run ``python scripts/gpu_check.py --wheels DIR``:
missing modules are unpacked from there into a temporary folder (no pip, nothing installed). kbsc itself is
imported from this checkout's ``src/``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 450.0  # the checks stop starting new work after this (start-up and the last item fit in 8 min)

# (distribution, import name, version): what such a machine lacks for kbsc (constraints.txt's tested set and
# the versions it resolved to). Pure-Python except faiss-cpu, h5py, pillow-heif, pydantic-core, pyyaml.
WHEELS = (
    ("sionna-no-rt", "sionna", "2.2.0"),
    ("faiss-cpu", "faiss", "1.15.1"),
    ("h5py", "h5py", "3.16.0"),
    ("pillow-heif", "pillow_heif", "1.9.0"),
    ("pydantic", "pydantic", "2.14.4"),
    ("pydantic-core", "pydantic_core", "2.50.5"),
    ("annotated-types", "annotated_types", "0.7.0"),
    ("typing-inspection", "typing_inspection", "0.4.5"),
    ("typing-extensions", "typing_extensions", "4.16.0"),
    ("importlib-resources", "importlib_resources", "7.1.0"),
    ("pyyaml", "yaml", "6.0.4"),
    ("tqdm", "tqdm", "4.70.1"),
    ("filelock", "filelock", "4.3.2"),
)
# issue 24's targets on one GPU, and the 2-core figures they are relative to (kbsc bench at d7ad735)
CLIP_FP16_TARGET = 2000.0  # images/s
JSCC_SPEEDUP_TARGET = 30.0
CPU_STEPS_PER_S = {"deepjscc-adaptive": 41.0, "swinjscc": 7.0}
PSNR_TOL_DB = 0.1
# --smoke-cpu (tests only): run the items' code on the CPU with tiny timings, to catch errors without a GPU
SMOKE = {"on": False}
VERDICTS: list[str] = []


def _say(verdict: str, item: str, detail: str) -> None:
    VERDICTS.append(verdict)
    print(f"[{verdict:<5}] {item:<8} {detail}", flush=True)


# --------------------------------------------------------------------------------------------- wheels
def list_wheels() -> int:
    names = " ".join(f"{d}=={v}" for d, _, v in WHEELS)
    print("gpu-check needs, beyond a CUDA torch (>= 2.9.1), numpy, pandas, pyarrow, scipy, numba, matplotlib")
    print("and transformers, these wheels (CPython 3.11, manylinux x86_64; about 32 MB in all):")
    for dist, module, version in WHEELS:
        print(f"  {dist}=={version}    (module {module})")
    print("make the folder where there is a package index:")
    print("  pip download --no-deps --only-binary=:all: --python-version 3.11 \\")
    print(f"    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d gpu-wheels {names}")
    print("then, on the GPU machine:  python scripts/gpu_check.py --wheels gpu-wheels")
    return 0


def _missing_modules() -> list[tuple[str, str, str]]:
    import importlib.util

    out = []
    for dist, module, version in WHEELS:
        if importlib.util.find_spec(module) is None:
            out.append((dist, module, version))
        elif dist == "typing-extensions":  # present, but pydantic needs a recent one
            from importlib import metadata

            have = tuple(int(p) for p in metadata.version(dist).split(".")[:2] if p.isdigit())
            if have < (4, 16):
                out.append((dist, module, version))
    return out


def use_wheels(folder: Path, into: Path) -> list[str]:
    """Unpack the wheels of the missing modules from ``folder`` into ``into`` (put first on sys.path)."""
    unpacked = []
    files = {p.name.split("-")[0].lower(): p for p in sorted(folder.glob("*.whl"))}
    for dist, _module, _version in _missing_modules():
        wheel = files.get(dist.replace("-", "_").lower())
        if wheel is None:
            continue
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(into)
        unpacked.append(wheel.name)
    sys.path.insert(0, str(into))
    return unpacked


# --------------------------------------------------------------------------------------------- items
def check_device():
    from kbsc.util.device import describe_device, device_line, resolve_device

    dev = resolve_device("cpu" if SMOKE["on"] else "cuda")
    _say("PASS", "device", device_line(describe_device(dev)))
    return dev


def check_weights(dev) -> None:
    import torch

    from kbsc.jscc import DeepJSCCAdaptive
    from kbsc.jscc.channel import LocalAWGN
    from kbsc.training import Budget, TrainTask, run_training
    from kbsc.util.device import state_dict_to_cpu

    torch.manual_seed(0)
    model = DeepJSCCAdaptive(k=256, width=16, linear_path=True).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(64, 3, 32, 32, generator=g)
    ids = torch.arange(64)
    channel = LocalAWGN(7)
    for step in range(30):
        x = images[(step * 16) % 64 : (step * 16) % 64 + 16].to(dev)
        loss = torch.nn.functional.mse_loss(model(x, torch.full((16,), 5.0), 256, channel, ids[:16]), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    buf = io.BytesIO()
    torch.save(state_dict_to_cpu(model.state_dict()), buf)
    blob = buf.getvalue()
    on_cpu = DeepJSCCAdaptive(k=256, width=16, linear_path=True)
    on_cpu.load_state_dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))
    back = DeepJSCCAdaptive(k=256, width=16, linear_path=True).to(dev)
    back.load_state_dict(torch.load(io.BytesIO(blob), map_location=dev, weights_only=True))
    same = all(
        torch.equal(a.cpu(), b) and torch.equal(a, c)
        for a, b, c in zip(
            model.state_dict().values(), on_cpu.state_dict().values(), back.state_dict().values(), strict=True
        )
    )
    with torch.no_grad():
        model.eval()
        on_cpu.eval()
        snr = torch.full((64,), 5.0)
        out_gpu = model(images.to(dev), snr, 256, channel, ids).cpu()
        out_cpu = on_cpu(images, snr, 256, channel, ids)
    p_gpu = psnr_mean(images, out_gpu)
    p_cpu = psnr_mean(images, out_cpu)
    # a loop checkpoint written on the GPU resumes on the CPU
    resumed = _resume_across_devices(dev, run_training, Budget, TrainTask)
    ok = same and abs(p_gpu - p_cpu) <= PSNR_TOL_DB and resumed
    _say(
        "PASS" if ok else "FAIL",
        "weights",
        f"GPU→host→CPU/GPU bit-identical: {same}; PSNR of the same weights GPU {p_gpu:.3f} dB vs CPU "
        f"{p_cpu:.3f} dB (|Δ| {abs(p_gpu - p_cpu):.4f} ≤ {PSNR_TOL_DB}); "
        f"GPU checkpoint resumed on CPU: {resumed}",
    )


def psnr_mean(ref, out) -> float:
    import torch

    mse = ((out.clamp(0, 1) - ref) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((-10 * torch.log10(mse)).mean())


def _resume_across_devices(dev, run_training, Budget, TrainTask) -> bool:
    import itertools

    import torch

    def make(device):
        torch.manual_seed(0)
        model = torch.nn.Linear(8, 1).to(device)

        def batches(start):
            for step in itertools.count(start):
                gb = torch.Generator().manual_seed(step)
                x = torch.randn(16, 8, generator=gb)
                yield x.to(device), x.sum(1, keepdim=True).to(device)

        def loss(batch, step):
            return torch.nn.functional.mse_loss(model(batch[0]), batch[1])

        task = TrainTask(model, lambda m: torch.optim.Adam(m.parameters(), 1e-2), loss, batches,
                         lambda: {"m": -float(model.weight.sum())}, "m")  # fmt: skip
        return task, model

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "resume.pt"
        budget = Budget(max_steps=20, eval_every=5, patience=10)
        task, _ = make(dev)
        run_training(task, budget, checkpoint=ckpt, stop_after=10, show_progress=False)
        task, model = make(torch.device("cpu"))
        report = run_training(task, budget, checkpoint=ckpt, show_progress=False)
        return report.steps == 20 and model.weight.device.type == "cpu"


def check_faiss() -> None:
    import numpy as np

    from kbsc.kb import KnowledgeBase
    from kbsc.kb.index import gpu_available
    from kbsc.util.device import set_device

    if not gpu_available():
        _say("SKIP", "faiss", "this FAISS is the CPU build (no GPU support): the knowledge base searches on "
             "the CPU; install the gpu extra (faiss-gpu-cu12) to check the GPU search")  # fmt: skip
        return
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((20_000, 512)).astype(np.float32)
    feats[100:140] = feats[99]  # exact duplicates: ties that the tie rule must order by id
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    labels = np.arange(len(feats)) % 100
    queries = feats[rng.integers(0, len(feats), 2000)] + 0.05 * rng.standard_normal((2000, 512)).astype(
        np.float32
    )
    queries[:10] = feats[99]
    results = {}
    for spec in ("cpu", "cuda"):
        set_device(spec)
        kb = KnowledgeBase(feats, labels)
        t0 = time.perf_counter()
        results[spec] = kb.search(queries, 5)
        results[spec + "_s"] = time.perf_counter() - t0
    (s_cpu, i_cpu), (s_gpu, i_gpu) = results["cpu"], results["cuda"]
    differ = np.flatnonzero((i_cpu != i_gpu).any(axis=1))
    near_ties = [q for q in differ if np.abs(s_cpu[q] - s_gpu[q]).max() < 1e-5]
    ties_ok = bool((i_gpu[:10, :5] == np.arange(99, 104)).all())
    ok = len(differ) == len(near_ties) and ties_ok
    _say(
        "PASS" if ok else "FAIL",
        "faiss",
        f"GPU flat search vs CPU on 2,000 queries x 20,000 entries: {len(differ)} queries differ, "
        f"{len(near_ties)} of them at float near-ties; exact ties by id: {ties_ok}; "
        f"{results['cuda_s'] * 1e3:.0f} ms on the GPU vs {results['cpu_s'] * 1e3:.0f} ms on the CPU",
    )


def _rate(fn, seconds: float = 3.0, warmup: int = 3) -> float:
    """Calls per second of ``fn`` (CUDA synchronised) over about ``seconds``."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    if SMOKE["on"]:
        seconds, warmup = 0.05, 1
    for _ in range(warmup):
        fn()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n == 0:
        fn()
        n += 1
    sync()
    return n / (time.perf_counter() - t0)


def check_bench(dev) -> None:
    import torch

    from kbsc.features.standin import StandinConfig
    from kbsc.util.device import autocast

    figures = []
    ok = True
    standin = StandinConfig().build().to(dev).eval()
    nb = 8 if SMOKE["on"] else 1024
    x32 = torch.rand(nb, 3, 32, 32, device=dev)
    with torch.inference_mode():
        figures.append(f"stand-in {nb * _rate(lambda: standin(x32)):,.0f} img/s fp32")
        try:
            from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

            clip = CLIPVisionModelWithProjection(CLIPVisionConfig(projection_dim=512)).to(dev).eval()
            nc = 2 if SMOKE["on"] else 256
            x224 = torch.rand(nc, 3, 224, 224, device=dev)
            rates = {}
            for prec in ("fp32", "bf16" if SMOKE["on"] else "fp16"):
                with autocast(dev, prec):
                    rates[prec[:2] + ("16" if prec != "fp32" else "32")] = nc * _rate(
                        lambda: clip(pixel_values=x224).image_embeds
                    )
            rates.setdefault("fp16", rates.pop("bf16", 0.0))
            figures.append(f"CLIP ViT-B/32 arch {rates['fp32']:,.0f} img/s fp32, {rates['fp16']:,.0f} fp16 "
                           f"(target ≥ {CLIP_FP16_TARGET:,.0f})")  # fmt: skip
            ok &= rates["fp16"] >= CLIP_FP16_TARGET
        except ImportError:
            figures.append("CLIP: transformers missing, not measured")
    for name, rate in _training_rates(dev).items():
        cpu = CPU_STEPS_PER_S.get(name)
        if cpu:
            figures.append(
                f"{name} train {rate:,.0f} steps/s = {rate / cpu:.0f}x 2-core "
                f"(target ≥ {JSCC_SPEEDUP_TARGET:g}x)"
            )
            ok &= rate / cpu >= JSCC_SPEEDUP_TARGET
        else:
            figures.append(f"{name} train {rate:,.0f} steps/s")
    _say("PASS" if ok else "BELOW", "bench", "; ".join(figures))


def _training_rates(dev) -> dict[str, float]:
    """Optimizer steps/s of each learned family at its quick-preset size and batch, on the bridge's AWGN."""
    import torch

    from kbsc.bridge.training_keys import open_bridge
    from kbsc.features.standin import StandinConfig
    from kbsc.features.standin_net import CosineHead
    from kbsc.jscc import DeepJSCCAdaptive, SwinJSCC
    from kbsc.semantic.codec import CODECS
    from kbsc.semantic.transmit import transmit

    bridge = open_bridge("awgn", "perfect", 2**30 + 11)
    rates = {}
    step_no = [0]

    def jscc_step(model, k, batch):
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x = torch.rand(batch, 3, 32, 32, device=dev)
        snr = torch.full((batch,), 5.0)

        def step():
            step_no[0] += 1
            ids = torch.arange(batch) + step_no[0] * batch
            loss = torch.nn.functional.mse_loss(model(x, snr, k, bridge, ids), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    torch.manual_seed(0)
    rates["deepjscc-adaptive"] = _rate(jscc_step(DeepJSCCAdaptive(k=384, linear_path=True).to(dev), 384, 32))
    rates["swinjscc"] = _rate(jscc_step(SwinJSCC(k=None, linear_path=True).to(dev), 384, 32))
    codec = CODECS.get("kbsc")(128).to(dev)
    opt = torch.optim.Adam(codec.parameters(), 1e-3)
    f = torch.nn.functional.normalize(torch.randn(128, 512, device=dev), dim=1)

    def codec_step():
        step_no[0] += 1
        loss = torch.nn.functional.mse_loss(
            transmit(codec, bridge, f, torch.arange(128) + step_no[0] * 128, 5.0), f
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rates["kbsc codec"] = _rate(codec_step)
    cfg = StandinConfig()
    net, head = cfg.build().to(dev), CosineHead(cfg.dim, 100, cfg.head_scale).to(dev)
    sopt = torch.optim.SGD([*net.parameters(), *head.parameters()], 0.05, momentum=0.9)
    xs, ys = (
        torch.rand(cfg.batch_size, 3, 32, 32, device=dev),
        torch.randint(0, 100, (cfg.batch_size,), device=dev),
    )

    def standin_step():
        loss = torch.nn.functional.cross_entropy(head(net(xs)), ys)
        sopt.zero_grad(set_to_none=True)
        loss.backward()
        sopt.step()

    rates["stand-in"] = _rate(standin_step)
    return rates


def _slice_config():
    from kbsc.experiments.config import load_config

    cfg = load_config("quick", ["n_images=200", "snr_db=[0,10]", "cbr=['1/8','1/2']", "channels=[awgn]"])
    keep = []
    for s in cfg.systems:
        if s.name == "hevc+ldpc":
            keep.append(s.model_copy(update={"mcs": [10], "cbr": [0.5]}))
        elif s.name == "kbsc" and not s.channels:
            keep.append(s.model_copy(update={"options": {**s.options, "max_steps": 300}}))
        elif s.name in ("swinjscc", "deepjscc-adaptive") and s.label is None:
            keep.append(s)
    return cfg.model_copy(update={"systems": keep})


def compare_tables(cpu, gpu) -> tuple[bool, str]:
    """(verdict, detail) of a GPU run's results table against the CPU run's, by docs/gpu.md's tolerance."""
    import pandas as pd

    key = ["system", "channel", "csi", "snr_db", "cbr", "mcs", "seed"]
    both = pd.merge(cpu, gpu, on=key, suffixes=("_cpu", "_gpu"))
    if len(both) != len(cpu) or len(both) != len(gpu):
        return False, f"the runs have different cells ({len(cpu)} on the CPU, {len(gpu)} on the GPU)"
    fp_same = bool((both["fingerprint_cpu"] == both["fingerprint_gpu"]).all())
    conv = both["system"].str.startswith("hevc")
    # the link itself (bits, blocks, decoded images) is computed on the CPU: exactly equal; its top-1 goes
    # through the extractor and the knowledge base, which ran on the device, so it is held to the interval
    link_cols = [c for c in ("psnr", "ber", "bler", "bits_per_image") if f"{c}_cpu" in both]
    conv_same = all(
        bool((both.loc[conv, f"{c}_cpu"].fillna(-1) == both.loc[conv, f"{c}_gpu"].fillna(-1)).all())
        for c in link_cols
    )
    inside = (both["acc_top1_gpu"] >= both["acc_top1_lo_cpu"]) & (
        both["acc_top1_gpu"] <= both["acc_top1_hi_cpu"]
    )
    jscc = both[~conv & both["psnr_cpu"].notna()]
    dpsnr = (jscc["psnr_cpu"] - jscc["psnr_gpu"]).abs()
    ok = fp_same and conv_same and bool(inside.all()) and bool((dpsnr <= PSNR_TOL_DB).all())
    worst = f"{dpsnr.max():.3f}" if len(dpsnr) else "n/a"
    return ok, (
        f"{len(both)} cells: realizations identical {fp_same}; conventional link ({', '.join(link_cols)}) "
        f"identical {conv_same}; top-1 inside the CPU cell's interval {int(inside.sum())}/{len(inside)}; "
        f"JSCC PSNR max |Δ| {worst} dB (≤ {PSNR_TOL_DB})"
    )


def check_slice(dev, deadline: float) -> None:

    from kbsc.experiments.runner import run_experiment
    from kbsc.util.device import set_device

    workers = max(1, min(8, (os.cpu_count() or 2) - 1))
    cfg = _slice_config()
    with tempfile.TemporaryDirectory() as tmp:
        tables, walls, models = {}, {}, {}
        for spec in ("cpu", "cuda"):
            if time.perf_counter() > deadline:
                _say("SKIP", "slice", f"out of time before the {spec} run (budget {BUDGET_S:.0f} s)")
                return
            data = Path(tmp) / f"data-{spec}"
            if spec == "cuda":  # the dataset and extractor weights are shared; features and KB are redone
                for area in ("datasets", "extractors"):
                    if (Path(tmp) / "data-cpu" / area).exists():
                        shutil.copytree(Path(tmp) / "data-cpu" / area, data / area)
            set_device(spec)
            t0 = time.perf_counter()
            res = run_experiment(cfg, Path(tmp) / f"run-{spec}", data_dir=data, workers=workers,
                                 show_progress=False)  # fmt: skip
            walls[spec] = time.perf_counter() - t0
            tables[spec] = res.results
            models[spec] = list(res.model_lines())
    ok, detail = compare_tables(tables["cpu"], tables["cuda"])
    _say(
        "PASS" if ok else "FAIL",
        "slice",
        f"{detail}; wall CPU {walls['cpu']:.0f} s, GPU {walls['cuda']:.0f} s",
    )
    for line in models["cuda"]:
        print(f"           {line}")


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--list-wheels", action="store_true", help="print the wheels it needs and exit")
    parser.add_argument("--wheels", type=Path, default=None, help="folder of those wheels (no index needed)")
    parser.add_argument("--skip", default="", help="comma list of items to skip (weights,faiss,bench,slice)")
    parser.add_argument("--smoke-cpu", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    SMOKE["on"] = bool(args.smoke_cpu)
    if args.list_wheels:
        return list_wheels()
    try:
        import torch
    except ImportError:
        print("gpu-check: torch is not installed, so there is no GPU to check (nothing done)")
        return 0
    if not torch.cuda.is_available() and not SMOKE["on"]:
        why = (
            "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no usable GPU"
        )
        print(f"gpu-check: no CUDA GPU visible to torch {torch.__version__} ({why}); nothing to check")
        return 0
    start = time.perf_counter()
    deadline = start + BUDGET_S
    os.environ.setdefault("KBSC_QUIET", "1")
    sys.path.insert(0, str(ROOT / "src"))
    scratch = Path(tempfile.mkdtemp(prefix="kbsc-gpu-check-"))
    try:
        if args.wheels is not None:
            used = use_wheels(args.wheels, scratch / "site")
            names = ", ".join(used) or "none needed"
            print(f"gpu-check: unpacked {len(used)} wheel(s) from {args.wheels}: {names}")
        missing = [d for d, _, _ in _missing_modules()]
        if missing:
            print(
                f"gpu-check: missing {', '.join(missing)}; see `python scripts/gpu_check.py --list-wheels` "
                "and bring them with --wheels DIR"
            )
            return 1
        os.environ.setdefault("KBSC_DATA", str(scratch / "data"))
        skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        try:
            dev = check_device()
        except Exception as exc:  # e.g. a driver that torch finds but cannot use
            _say(
                "FAIL", "device", f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
            )
            return 1
        failed = 0
        items = [
            ("weights", lambda: check_weights(dev)),
            ("faiss", check_faiss),
            ("bench", lambda: check_bench(dev)),
            ("slice", lambda: check_slice(dev, deadline)),
        ]
        for name, fn in items:
            if name in skip:
                _say("SKIP", name, "--skip")
                continue
            if time.perf_counter() > deadline:
                _say("SKIP", name, f"out of time (budget {BUDGET_S:.0f} s)")
                continue
            try:
                fn()
            except Exception as exc:  # one line per broken item; the others still run
                failed += 1
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                _say("FAIL", name, f"{type(exc).__name__}: {first}")
        failed += VERDICTS.count("FAIL")
        print(f"gpu-check: done in {time.perf_counter() - start:.0f} s; {failed} item(s) failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
