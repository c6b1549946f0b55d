"""``kbsc jscc …``: size/FLOPs of the pixel JSCC models, training, a PSNR/accuracy sweep, realization export.

* ``kbsc jscc info [--cbr 1/8 ...]`` – parameters and FLOPs per image of each model;
* ``kbsc jscc train --model swinjscc --channel awgn --csi perfect [--cbr 1/8] [--setting quick|paper]`` –
  train (or load from the cache) on the workspace's training split;
* ``kbsc jscc eval --model … --snr … --cbr …`` – PSNR and top-1/top-5 accuracy (Wilson 95 %) on the first
  ``--n-images`` sender images (the experiments' class-balanced subset), as a table;
* ``kbsc jscc export --channel … --csi … --seed … --cbr … --out FILE`` – the bridge's realization export for
  the same images, for outside models that cannot be imported (route 2 of :mod:`kbsc.jscc.plugin`).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from kbsc.cli.args import parse_cbr
from kbsc.errors import ConfigError
from kbsc.util.cbr import cbr_label, cbr_to_k

MODEL_NAMES = ("deepjscc", "deepjscc-adaptive", "swinjscc")


def _common(p: argparse.ArgumentParser) -> None:
    from kbsc.cli.args import add_data_dir, add_device  # lazy: `kbsc --help` imports every command module

    add_data_dir(p)
    add_device(p)
    p.add_argument("--dataset", default="synthetic100")
    p.add_argument("--extractor", default="standin")
    p.add_argument("--channel", default="awgn")
    p.add_argument("--csi", default="perfect")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (the experiments' cell seed)")


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=MODEL_NAMES, default="deepjscc")
    p.add_argument("--setting", default="quick", help="quick (minutes) or paper (hours)")
    p.add_argument(
        "--max-steps",
        "--steps",
        dest="max_steps",
        type=int,
        default=None,
        help="ceiling in optimizer steps (training stops earlier when validation PSNR stops improving)",
    )
    p.add_argument("--patience", type=int, default=None, help="validations without gain that end training")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--loss", default="mse", help="training loss: mse (default, PSNR) or ms-ssim")
    p.add_argument("--model-options", default="{}", help="JSON, e.g. '{\"width\": 32}'")


def register(sub: argparse._SubParsersAction) -> None:
    from kbsc.cli.args import add_retrain  # lazy: `kbsc --help` imports every command module

    top = sub.add_parser("jscc", help="learned pixel JSCC baselines (DeepJSCC, SwinJSCC-class)")
    jsub = top.add_subparsers(dest="jscc_cmd", required=True)

    p = jsub.add_parser("info", help="parameters and FLOPs per image of the JSCC models")
    p.add_argument("--cbr", nargs="+", default=["1/24", "1/8", "1/2"])
    p.set_defaults(func=cmd_info)

    p = jsub.add_parser("train", help="train (or load) one JSCC model on the workspace's training split")
    _common(p)
    _train_args(p)
    p.add_argument("--cbr", default="1/8", help="the k of fixed-rate models (ignored by swinjscc)")
    add_retrain(p)
    p.set_defaults(func=cmd_train)

    p = jsub.add_parser("eval", help="PSNR and accuracy of a trained model vs SNR and CBR")
    _common(p)
    _train_args(p)
    p.add_argument("--cbr", nargs="+", default=["1/24", "1/8", "1/4", "1/2"])
    p.add_argument("--snr", nargs="+", type=float, default=[-4.0, 0.0, 4.0, 10.0])
    p.add_argument("--n-images", type=int, default=1000)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.set_defaults(func=cmd_eval)

    p = jsub.add_parser("export", help="export the channel realizations of the sender images (route 2)")
    _common(p)
    p.add_argument("--cbr", required=True)
    p.add_argument("--n-images", type=int, default=1000)
    p.add_argument("--out", required=True, help=".npz (or .h5) file")
    p.set_defaults(func=cmd_export)


def cmd_info(args: argparse.Namespace) -> int:
    from kbsc.jscc.cost import model_cost  # lazy: `kbsc --help` imports every command module
    from kbsc.jscc.train import (  # lazy: `kbsc --help` imports every command module
        JSCCTrainConfig,
        build_model,
    )

    print(f"{'model':<18} {'cbr':>6} {'k':>5} {'params':>9} {'enc MFLOP':>10} {'dec MFLOP':>10}")
    for name in MODEL_NAMES:
        for text in args.cbr:
            k = cbr_to_k(parse_cbr(text), 3072)
            model = build_model(JSCCTrainConfig(model=name, k=k).resolved())
            c = model_cost(model, k)
            label = cbr_label(parse_cbr(text))
            print(
                f"{name:<18} {label:>6} {k:>5} {c['params']:>9,} {c['encoder_flops'] / 1e6:>10.2f} "
                f"{c['decoder_flops'] / 1e6:>10.2f}"
            )
    return 0


def _workspace(args: argparse.Namespace) -> Any:
    from kbsc.workspace import prepare_workspace  # lazy: `kbsc --help` imports every command module

    return prepare_workspace(dataset=args.dataset, extractor=args.extractor, data_dir=args.data_dir)


def _config(args: argparse.Namespace, k: int) -> Any:
    from kbsc.jscc.train import JSCCTrainConfig  # lazy: `kbsc --help` imports every command module

    try:
        opts = json.loads(args.model_options)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model-options must be JSON, got {args.model_options!r} ({exc.msg})") from None
    return JSCCTrainConfig(
        model=args.model,
        k=k,
        channel=args.channel,
        csi=args.csi,
        seed=args.train_seed,
        setting=args.setting,
        max_steps=args.max_steps,
        patience=args.patience,
        threads=args.threads,
        loss=args.loss,
        model_options=opts,
    )


def _train(args: argparse.Namespace, ws: Any, k: int) -> Any:
    from pathlib import Path

    from kbsc.jscc.train import train_images, train_model  # lazy: `kbsc --help` imports every command module

    return train_model(_config(args, k), train_images(ws), Path(ws.data_dir) / "jscc")


def cmd_train(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    t = time.perf_counter()
    res = _train(args, ws, cbr_to_k(parse_cbr(args.cbr), ws.sender.source_dim))
    state = "cached" if res.cached else f"trained in {time.perf_counter() - t:.0f} s"
    print(
        f"{args.model}: {state} (training wall time {res.wall_s:.0f} s, {res.steps} steps), "
        f"validation PSNR {res.val_psnr:.2f} dB, checkpoint {res.path}"
    )
    print(f"training: {res.report.summary()}")
    return 0


def _sender_context(args: argparse.Namespace, ws: Any) -> Any:
    import numpy as np

    from kbsc.data.splits import balanced_subset  # lazy: `kbsc --help` imports every command module
    from kbsc.systems.base import EvalContext  # lazy: `kbsc --help` imports every command module

    idx = balanced_subset(ws.sender.labels, args.n_images)
    return EvalContext(
        data_dir=ws.data_dir,
        images=ws.sender.images[idx],
        labels=np.asarray(ws.sender.labels[idx], dtype=np.int64),
        image_ids=np.asarray(ws.sender.ids[idx], dtype=np.int64),
        features=ws.sender_features[idx],
        extractor=ws.extractor,
        kb=ws.kb,
        workspace=ws,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from kbsc.jscc.channel import open_bridge  # lazy: `kbsc --help` imports every command module
    from kbsc.jscc.evaluate import (  # lazy: `kbsc --help` imports every command module
        outcomes_from_images,
        transmit_images,
    )
    from kbsc.jscc.system import model_runner  # lazy: `kbsc --help` imports every command module
    from kbsc.metrics.retrieval import wilson_interval  # lazy: `kbsc --help` imports every command module

    ws = _workspace(args)
    ctx = _sender_context(args, ws)
    rows = []
    print(
        f"{'model':<18} {'cbr':>6} {'snr':>6} {'psnr':>6} {'top1':>6} {'95% CI':>13} {'top5':>6} {'uses':>5}"
    )
    for text in args.cbr:
        k = cbr_to_k(parse_cbr(text), ctx.source_dim)
        res = _train(args, ws, k)
        enc, dec = model_runner(res.model)
        bridge = open_bridge(args.channel, args.csi, args.seed)
        for snr in args.snr:
            tx = transmit_images(enc, dec, bridge, ctx.images, ctx.image_ids, snr, k)
            out = outcomes_from_images(tx.decoded, ctx, tx.fingerprint, tx.channel_uses)
            n, c1 = len(out.labels), int(out.correct_top1.sum())
            lo, hi = wilson_interval(c1, n)
            row = {
                "model": args.model,
                "channel": args.channel,
                "csi": args.csi,
                "cbr": text,
                "snr_db": snr,
                "psnr": float(out.extras["psnr"].mean()),
                "acc_top1": c1 / n,
                "acc_top1_lo": lo,
                "acc_top1_hi": hi,
                "acc_top5": float(out.correct_top5.mean()),
                "channel_uses": float(tx.channel_uses.mean()),
                "train_wall_s": res.wall_s,
                "train_steps": res.steps,
                "fingerprint": tx.fingerprint,
            }
            rows.append(row)
            print(
                f"{args.model:<18} {cbr_label(parse_cbr(text)):>6} {snr:>6g} {row['psnr']:>6.2f} "
                f"{row['acc_top1']:>6.3f} "
                f"[{lo:.3f},{hi:.3f}] {row['acc_top5']:>6.3f} {row['channel_uses']:>5.0f}"
            )
    if args.json:
        from kbsc.util import atomic_write_json  # lazy: `kbsc --help` imports every command module

        atomic_write_json(args.json, rows)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from kbsc.jscc.channel import open_bridge  # lazy: `kbsc --help` imports every command module
    from kbsc.jscc.plugin import export_realizations  # lazy: `kbsc --help` imports every command module

    ws = _workspace(args)
    ctx = _sender_context(args, ws)
    k = cbr_to_k(parse_cbr(args.cbr), ctx.source_dim)
    bridge = open_bridge(args.channel, args.csi, args.seed)
    path = export_realizations(bridge, args.out, ctx.image_ids, k)
    print(
        f"exported the realizations of {len(ctx.image_ids)} images × {k} symbols "
        f"(fingerprint {bridge.fingerprint(ctx.image_ids, k)}) to {path}"
    )
    return 0
