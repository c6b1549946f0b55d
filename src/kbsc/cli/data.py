"""``kbsc prepare`` (dataset → extractor → features → knowledge base) and ``kbsc info`` (the caches)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from kbsc.errors import ConfigError

INDEXES = ("flat", "ivf", "hnsw")
# Manifest entries worth a glance in `kbsc info`, in display order.
INFO_KEYS = (
    "kind",
    "name",
    "dataset",
    "extractor",
    "train_set",
    "images",
    "seed",
    "split_seed",
    "index",
    "shape",
    "n",
    "size",
    "fingerprint",
    "extractor_fingerprint",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``prepare`` and ``info`` to the ``kbsc`` parser."""
    from kbsc.cli.args import (  # lazy: `kbsc --help` imports every command module
        add_data_dir,
        add_device,
        add_retrain,
    )

    p = sub.add_parser(
        "prepare",
        help="dataset → features → knowledge base; prints the clean retrieval accuracy",
        description="Load/generate the dataset, train or load the feature extractor, extract features, "
        "split the test set into sender and receiver halves, build the receiver's knowledge base, print the "
        "clean (no channel) top-1/top-5 retrieval accuracy. Everything is cached; a second run takes "
        "seconds.",
    )
    p.add_argument("--dataset", default="synthetic100", help="synthetic100 (default), cifar100 or folder")
    p.add_argument(
        "--dataset-root",
        default=None,
        help="cifar100: the cifar-100-python folder; folder: DIR/<class>/*.png|jpg (split per class here, "
        "70/30, seed 0) or DIR/train/<class>/* + DIR/test/<class>/*; at least two classes",
    )
    p.add_argument("--extractor", default="standin", help="standin (default) or clip-vit-b32")
    p.add_argument(
        "--checkpoint", default=None, help="extractor checkpoint (ViT-B-32.pt or a HF CLIP folder)"
    )
    p.add_argument("--split-seed", type=int, default=0, help="seed of the sender/receiver split (default 0)")
    p.add_argument("--index", choices=INDEXES, default="flat", help="FAISS index of the knowledge base")
    p.add_argument("--extractor-seed", type=int, default=0, help="training seed of the stand-in (default 0)")
    p.add_argument(
        "--extractor-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extractor setting, repeatable (stand-in: max_steps, eval_every, patience, width, lr, "
        "batch_size, threads, ...)",
    )
    p.add_argument("--force", action="store_true", help="rebuild the knowledge base even if one is saved")
    add_data_dir(p)
    add_retrain(p)
    add_device(p)
    p.set_defaults(func=cmd_prepare)

    q = sub.add_parser("info", help="list what is cached where (datasets, extractors, features, KBs)")
    add_data_dir(q)
    add_device(q)
    q.set_defaults(func=cmd_info)


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``["max_steps=2", "width=8"]`` → ``{"max_steps": "2", "width": "8"}`` (the extractor converts them)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--extractor-opt {pair!r} must look like KEY=VALUE, e.g. max_steps=500")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def cmd_prepare(args: argparse.Namespace) -> int:
    from kbsc.workspace import prepare_workspace  # lazy: `kbsc --help` imports every command module

    t0 = time.perf_counter()
    ws = prepare_workspace(
        dataset=args.dataset,
        extractor=args.extractor,
        data_dir=args.data_dir,
        dataset_root=args.dataset_root,
        checkpoint=args.checkpoint,
        split_seed=args.split_seed,
        index=args.index,
        force=args.force,
        extractor_seed=args.extractor_seed,
        extractor_options=parse_options(args.extractor_opt),
    )
    wall = time.perf_counter() - t0
    print(
        f"dataset    {ws.dataset}: {len(ws.train)} train, {len(ws.test)} test images, "
        f"{len(ws.test.class_names)} classes"
    )
    if ws.train.meta.get("split_rule"):
        print(f"train/test {ws.train.meta['split_rule']}")
    print(f"extractor  {ws.extractor.name} ({ws.extractor.fingerprint})")
    report = getattr(ws.extractor, "stats", {}) or {}
    if "converged" in report:
        verdict = "converged" if report["converged"] else "NOT converged (raise max_steps: --extractor-opt)"
        print(
            f"training   {report['steps']} steps, best validation top-1 {100 * report['val_acc']:.1f} % at "
            f"step {report['best_step']}, {verdict}"
        )
    print(
        f"split      seed {ws.split_seed}: {len(ws.sender)} sender images, "
        f"{len(ws.receiver)} in the knowledge base"
    )
    print(f"clean retrieval accuracy (no channel), 95 % Wilson intervals:\n  {ws.clean}")
    _raw_pixel_reference(ws)
    print(f"data dir   {ws.data_dir}")
    print(f"kb         {ws.kb_dir}")
    steps = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in ws.timings.items())
    print(f"time       {wall:.1f} s ({steps})")
    return 0


def _raw_pixel_reference(ws: Any) -> None:
    """Print raw-pixel nearest-neighbour top-1 on the same split; warn when the extractor is not clearly
    (5 points) above it."""
    from kbsc.kb.pixel_reference import raw_pixel_top1  # lazy: `kbsc --help` imports every command module

    ref, n = raw_pixel_top1(ws.sender.images, ws.sender.labels, ws.receiver.images, ws.receiver.labels)
    print(f"  raw-pixel nearest neighbour (reference, {n} senders): top-1 {100 * ref:.1f} %")
    if ws.clean.top1 < ref + 0.05:
        print(
            f"kbsc: warning: the extractor's top-1 ({100 * ws.clean.top1:.1f} %) is not clearly above raw "
            "pixels; train it longer (--extractor-opt max_steps=...) or use a stronger extractor"
        )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _manifest_of(entry: Path) -> dict[str, Any] | None:
    candidates = [entry / "manifest.json"] if entry.is_dir() else [entry.with_suffix(".json")]
    for c in candidates:
        if c.is_file() and c != entry:
            try:
                return json.loads(c.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {"manifest": "unreadable"}
    return None


def _facts(manifest: dict[str, Any]) -> str:
    facts = [f"{k}={manifest[k]}" for k in INFO_KEYS if k in manifest and not isinstance(manifest[k], dict)]
    stats = manifest.get("stats")
    if isinstance(stats, dict) and "wall_s" in stats:
        facts.append(f"trained in {stats['wall_s']} s")
    training = manifest.get("training")
    if isinstance(training, dict) and "converged" in training:
        facts.append(
            f"{'converged' if training['converged'] else 'NOT converged'} ({training.get('stopped')}, "
            f"{training.get('steps')} steps, best {training.get('metric')} {training.get('best', 0):.4g} "
            f"at {training.get('best_step')}"
            + (f", {training['wall_s']:.0f} s" if "wall_s" in training and not stats else "")
            + ")"
        )
    return ", ".join(facts)


def cmd_info(args: argparse.Namespace) -> int:
    from kbsc.util import data_dir  # lazy: `kbsc --help` imports every command module
    from kbsc.util.device import (  # lazy: `kbsc --help` imports every command module
        describe_device,
        device_line,
    )

    print(f"device {device_line(describe_device())}")
    root = data_dir(args.data_dir)
    print(f"data dir {root} ({_human(_size(root))})")
    areas = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not areas:
        print("  (empty: run `kbsc prepare`)")
    for area in areas:
        entries = sorted(
            p
            for p in area.iterdir()
            if not p.name.startswith(".")
            and not p.name.endswith((".lock", ".tmp"))
            and not (p.suffix == ".json" and p.with_suffix(".npy").exists())
        )
        print(f"{area.name}/ ({len(entries)} entries, {_human(_size(area))})")
        for entry in entries:
            manifest = _manifest_of(entry)
            facts = _facts(manifest) if manifest else "no manifest"
            named = (manifest or {}).get("fingerprint")
            if area.name == "extractors" and named not in (None, entry.name):
                facts += " (older cache layout: the folder is named by its recipe, not its fingerprint)"
            print(f"  {entry.name}{'/' if entry.is_dir() else ''}  {_human(_size(entry))}  {facts}")
    return 0
