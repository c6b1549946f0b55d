"""Sub-commands of the ``baselines`` area (see :mod:`kbsc.cli`): ``kbsc baseline``.

``kbsc baseline --snr -2 0 2 4 10 --cbr 1/8 1/4 1/2 --channel awgn --mcs 4 --n-images 200``
prepares (or loads)
the workspace of the embedded default, runs the conventional baseline over the SNR × CBR grid and prints per
cell: top-1/top-5 accuracy with 95 % Wilson intervals, BLER (over sent images), mean PSNR, source bits, QP,
share of images sent, and wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kbsc.cli.args import cbr_arg
from kbsc.errors import ConfigError

NAN = float("nan")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the ``kbsc`` parser."""
    from kbsc.cli.args import add_data_dir  # lazy: `kbsc --help` imports every command module

    p = sub.add_parser(
        "baseline",
        help="run the HEVC + 5G NR LDPC baseline over a small SNR x CBR grid",
        description="HEVC intra (BPG-style bit accounting) + one 5G NR transport block (CRC, LDPC, rate "
        "matching, QAM) over the bridge, scored by knowledge-base retrieval of the decoded image.",
    )
    p.add_argument("--snr", nargs="+", type=float, default=[-2.0, 0.0, 2.0, 4.0, 10.0], help="Es/N0 in dB")
    p.add_argument(
        "--cbr", nargs="+", type=cbr_arg, default=[1 / 8, 1 / 4, 1 / 2], help="channel uses / 3072"
    )
    p.add_argument("--channel", default="awgn", help="bridge channel model (default: awgn)")
    p.add_argument("--csi", default="perfect", help="CSI mode (default: perfect)")
    p.add_argument("--mcs", type=int, default=4, help="MCS index (default: 4)")
    p.add_argument(
        "--mcs-table",
        type=int,
        default=1,
        choices=[1, 2],
        help="1 = TS 38.214 Table 5.1.3.1-1 (64QAM, default), 2 = Table 5.1.3.1-2 (256QAM)",
    )
    p.add_argument(
        "--system",
        default="hevc+ldpc",
        choices=["hevc+ldpc", "hevc+ldpc-best", "hevc+ldpc-amc", "hevc+capacity"],
    )
    p.add_argument("--codec", default="hevc", help="image codec: hevc (default), bpg, jpeg")
    p.add_argument("--failure", default="conceal", choices=["conceal", "miss"], help="CRC-failure handling")
    p.add_argument(
        "--decoder", default=None, help="LDPC decoder (default: lanes-cms16; 'sionna' for Sionna's)"
    )
    p.add_argument("--num-iter", type=int, default=20, help="LDPC iterations (default: 20)")
    p.add_argument("--n-images", type=int, default=200, help="sender images, class-balanced (default: 200)")
    p.add_argument("--dataset", default="synthetic100", help="dataset (default: synthetic100)")
    p.add_argument("--extractor", default="standin", help="feature extractor (default: standin)")
    p.add_argument("--seed", type=int, default=0, help="master seed of the realizations")
    add_data_dir(p)
    p.set_defaults(func=run_baseline)

    c = sub.add_parser(
        "calibrate-amc",
        help="measure the AWGN BLER thresholds of the NR link for link adaptation (hevc+ldpc-amc)",
        description="Per k and MCS, the Es/N0 where the link's transport-block error rate on AWGN crosses "
        "the BLER target (search over SNR with common random numbers; see kbsc.nrlink.amc_calibration). "
        "Results are merged into the threshold table (default: the package's amc_thresholds.json).",
    )
    c.add_argument("--k", nargs="+", type=int, default=None, help="data REs per TB (default: the grid's)")
    c.add_argument("--mcs", nargs="+", type=int, default=None, help="MCS indices (default: the AMC set)")
    c.add_argument("--mcs-table", type=int, default=1, choices=[1, 2])
    c.add_argument("--bler-target", type=float, default=0.1, help="BLER target (default: 0.1)")
    c.add_argument("--n-tb", type=int, default=200, help="transport blocks per SNR point (default: 200)")
    c.add_argument("--resolution-db", type=float, default=0.5, help="bisection stop (default: 0.5 dB)")
    c.add_argument("--decoder", default=None, help="LDPC decoder (default: lanes-cms16)")
    c.add_argument("--num-iter", type=int, default=20, help="LDPC iterations (default: 20)")
    c.add_argument(
        "--out",
        default=None,
        help="threshold table to merge into (default: the package's, "
        "only in a source checkout; an installed kbsc needs --out)",
    )
    c.set_defaults(func=run_calibrate_amc)


def _calibrate_command(args: argparse.Namespace, ks: list[int], mcs: list[int]) -> str:
    """The command line that reproduces this calibration (every setting spelled out)."""
    import shlex

    parts = ["kbsc", "calibrate-amc", "--k", *map(str, ks), "--mcs", *map(str, mcs)]
    parts += ["--mcs-table", str(args.mcs_table), "--bler-target", f"{args.bler_target:g}"]
    parts += ["--n-tb", str(args.n_tb), "--resolution-db", f"{args.resolution_db:g}"]
    parts += ["--num-iter", str(args.num_iter)] + (["--decoder", args.decoder] if args.decoder else [])
    parts += ["--out", args.out] if args.out else []
    return " ".join(shlex.quote(p) for p in parts)


def _in_source_checkout(path) -> bool:
    """True when ``path`` (a file of the package) lies in a git checkout of kbsc (src/kbsc/... under a
    directory with pyproject.toml and .git), where updating the committed threshold table is the workflow."""
    root = path.resolve().parents[3]
    return (root / "pyproject.toml").is_file() and (root / ".git").exists()


def run_calibrate_amc(args: argparse.Namespace) -> int:
    import datetime

    from kbsc import __version__  # lazy: `kbsc --help` imports every command module
    from kbsc.baselines.amc import DEFAULT_AMC_MCS_SET  # lazy: `kbsc --help` imports every command module
    from kbsc.experiments.provenance import git_commit  # lazy: `kbsc --help` imports every command module
    from kbsc.nrlink.amc_calibration import (  # lazy: `kbsc --help` imports every command module
        CALIBRATION_KS,
        CALIBRATION_SEED,
        THRESHOLDS_FILE,
        calibrate,
        merge_into,
    )
    from kbsc.nrlink.link import DEFAULT_DECODER  # lazy: `kbsc --help` imports every command module

    if args.out is None and not _in_source_checkout(THRESHOLDS_FILE):
        raise ConfigError(
            f"kbsc is installed, not run from a source checkout: its threshold table {THRESHOLDS_FILE} is "
            "part of the package; pass --out FILE and give the AMC systems the option `thresholds: FILE`"
        )
    commit = git_commit()  # the code that runs (read now: the tree may change during a long calibration)
    ks = args.k or list(CALIBRATION_KS)
    mcs = args.mcs if args.mcs is not None else list(DEFAULT_AMC_MCS_SET)
    t0 = time.perf_counter()
    recs = calibrate(
        ks,
        mcs,
        args.bler_target,
        args.n_tb,
        args.mcs_table,
        args.decoder,
        args.num_iter,
        resolution_db=args.resolution_db,
        log=lambda s: print(s, flush=True),
    )
    run = {
        "command": _calibrate_command(args, ks, mcs),
        "kbsc_version": __version__,
        "git_commit": commit,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "channel": "awgn",
        "csi": "perfect",
        "seed": CALIBRATION_SEED,
        "tbs_per_point": args.n_tb,
        "resolution_db": args.resolution_db,
        "decoder": args.decoder or DEFAULT_DECODER,
        "num_iter": args.num_iter,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    path = merge_into(args.out or THRESHOLDS_FILE, recs, run)
    print(f"{len(recs)} thresholds written to {path}")
    return 0


def _experiment(args: argparse.Namespace, opts: dict[str, Any]) -> dict[str, Any]:
    """The experiment config of the flags: one system over SNR × CBR on one channel and CSI. No grid block
    (``grid: null``): the bridge's defaults, as this command has always run them."""
    system: dict[str, Any] = {"name": args.system, "options": opts}
    if args.system == "hevc+ldpc":
        system["mcs"] = [args.mcs]
    return {
        "name": "baseline",
        "dataset": {"name": args.dataset},
        "extractor": {"name": args.extractor},
        "n_images": args.n_images,
        "seeds": [args.seed],
        "snr_db": [float(s) for s in args.snr],
        "cbr": [float(c) for c in args.cbr],
        "channels": [args.channel],
        "csi": [args.csi],
        "grid": None,
        "systems": [system],
    }


def _clean_top1(ctx: Any) -> float:
    """Clean (no channel) top-1 retrieval of the workspace's sender half; of the context's images when the
    dataset is no workspace (the toy sets)."""
    clean = getattr(ctx.workspace, "clean", None)
    if clean is not None:
        return float(clean.top1)
    return float((ctx.kb.retrieve_labels(ctx.features, k=1)[:, 0] == ctx.labels).mean())


def run_baseline(args: argparse.Namespace) -> int:
    """One line per (CBR, SNR) cell, run through the experiment runner (:mod:`kbsc.cli.oneshot`)."""
    from kbsc.cli.oneshot import context_of, run_one_shot  # lazy: `kbsc --help` imports every command module
    from kbsc.experiments.config import parse_config  # lazy: `kbsc --help` imports every command module
    from kbsc.util.cbr import cbr_label, cbr_to_k  # lazy: `kbsc --help` imports every command module

    if args.n_images < 1:
        raise ConfigError(f"--n-images must be ≥ 1, got {args.n_images}")
    opts: dict[str, Any] = {
        "codec": args.codec,
        "failure": args.failure,
        "num_iter": args.num_iter,
        "mcs_table": args.mcs_table,
    }
    if args.decoder:
        opts["decoder"] = args.decoder
    if args.system == "hevc+ldpc":
        opts["mcs"] = args.mcs
    cfg = parse_config(_experiment(args, opts), source="kbsc baseline")
    ctx = context_of(cfg, args.data_dir)
    mcs = f"MCS {args.mcs}" if args.system == "hevc+ldpc" else "MCS per image"
    print(
        f"{args.system} codec={args.codec} {mcs} (table {args.mcs_table}) "
        f"{args.channel}/{args.csi}, "
        f"{len(ctx.images)} images; clean top-1 {_clean_top1(ctx):.3f}"
    )
    shot = run_one_shot(cfg, args.data_dir, extras=("qp",))
    head = (
        f"{'snr_db':>6} {'cbr':>6} {'k':>5} {'top1':>6} {'[95% CI]':>15} {'top5':>6} {'bler':>6} "
        f"{'psnr':>6} {'bits':>6} {'qp':>5} {'sent':>5} {'wall_s':>7}"
    )
    rows = []
    for cbr, snr in [(c, s) for c in args.cbr for s in args.snr]:
        r = shot.row(snr_db=float(snr), cbr=float(cbr))
        k = cbr_to_k(float(cbr), ctx.source_dim)
        qp = shot.extra_means.get(r.cell_hash, {}).get("qp", NAN) if r.sent_frac > 0 else NAN
        rows.append(
            f"{snr:>6g} {cbr_label(float(cbr)):>6} {k:>5d} {r.acc_top1:>6.3f} "
            f"[{r.acc_top1_lo:.3f},{r.acc_top1_hi:.3f}] {r.acc_top5:>6.3f} {r.bler:>6.3f} {r.psnr:>6.1f} "
            f"{r.bits_per_sent_image:>6.0f} {qp:>5.1f} {r.sent_frac:>5.2f} {r.wall_s:>7.2f}"
        )
    print(head)
    for line in rows:
        print(line)
    sys.stdout.flush()
    return 0
