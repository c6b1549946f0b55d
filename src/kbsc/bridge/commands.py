"""Sub-commands of the ``bridge`` area (see :mod:`kbsc.cli`): ``kbsc ber``.

``kbsc ber --channel awgn rayleigh --csi perfect --modulation qpsk 16qam --snr 0 5 10 --bits 100000
--json out.json --plot out.png`` measures the uncoded BER through the bridge (one slot per "image", image ids
0, 1, …), prints a table, writes JSON (points + closed forms) and plots simulated points with 95 % intervals
over the closed-form AWGN and Rayleigh curves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbsc.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the ``kbsc`` parser."""
    p = sub.add_parser(
        "ber",
        help="uncoded BER of QAM through the bridge vs closed-form curves",
        description="Uncoded BER of Gray QAM through the bridge, with Clopper-Pearson intervals "
        "(design-effect corrected for block fading) and the closed-form AWGN/Rayleigh curves.",
    )
    p.add_argument("--channel", nargs="+", default=["awgn"], help="channel model(s) (default: awgn)")
    p.add_argument("--csi", nargs="+", default=["perfect"], help="CSI mode(s) (default: perfect)")
    p.add_argument("--modulation", nargs="+", default=["qpsk", "16qam"], help="qpsk 16qam 64qam 256qam")
    p.add_argument("--snr", nargs="+", type=float, default=[0.0, 5.0, 10.0, 15.0, 20.0], help="Es/N0 in dB")
    p.add_argument("--bits", type=int, default=200_000, help="bits per point (rounded up to whole slots)")
    p.add_argument("--seed", type=int, default=0, help="master seed of the realizations")
    p.add_argument("--batch", type=int, default=64, help="slots per transmit call")
    p.add_argument("--json", default=None, help="write the points as JSON here")
    p.add_argument("--plot", default=None, help="write the figure here (.png and .pdf)")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="write under the repository's results/ from a tree with uncommitted changes (marked +dirty)",
    )
    p.set_defaults(func=run_ber)


def run_ber(args: argparse.Namespace) -> int:
    import torch

    from kbsc.bridge.ber import simulate_ber
    from kbsc.bridge.ber_plot import THEORY_OF_CHANNEL, plot_ber
    from kbsc.bridge.bridge import Bridge
    from kbsc.bridge.modulation import bits_per_symbol
    from kbsc.bridge.theory import ber_qam
    from kbsc.util import atomic_write_json, progress
    from kbsc.util.gitstate import git_commit, guard_results_path

    plot_files = [Path(args.plot).with_suffix(x) for x in (".pdf", ".png")] if args.plot else []
    guard_results_path([args.json, *plot_files], args.allow_dirty)
    if args.bits <= 0:
        raise ConfigError(f"--bits must be positive, got {args.bits}")
    if args.batch <= 0:
        raise ConfigError(f"--batch must be positive, got {args.batch}")
    mods = [(mod, bits_per_symbol(mod)) for mod in args.modulation]
    bridges = [Bridge(ch, csi, seed=args.seed) for ch in args.channel for csi in args.csi]
    for s in args.snr:
        bridges[0]._check_snr(s, 1)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    jobs = [(b, mod, s) for b in bridges for mod, _ in mods for s in args.snr]
    points = []
    bar = progress(jobs, desc="kbsc ber", unit="point")
    for b, mod, s in bar:
        pt = simulate_ber(b, mod, s, args.bits, seed=args.seed, batch=args.batch)
        row = pt.to_dict()
        kind = THEORY_OF_CHANNEL.get(b.channel) if b.csi == "perfect" else None
        row["theory"] = kind
        row["ber_theory"] = float(ber_qam(kind, s, pt.bits_per_symbol)) if kind else None
        points.append(row)
    print(
        f"{'channel':<16} {'csi':<10} {'mod':<7} {'SNR':>6} {'bits':>9} {'errors':>8} "
        f"{'BER':>10} {'95% CI':>23} {'theory':>10}"
    )
    for r in points:
        th = f"{r['ber_theory']:.3e}" if r["ber_theory"] is not None else "-"
        print(
            f"{r['channel']:<16} {r['csi']:<10} {r['modulation']:<7} {r['snr_db']:>6.1f} {r['bits']:>9d} "
            f"{r['errors']:>8d} {r['ber']:>10.3e} [{r['ber_lo']:.3e}, {r['ber_hi']:.3e}] {th:>10}"
        )
    meta = {
        "grid": bridges[0].grid.to_dict(),
        "seed": args.seed,
        "command": " ".join(sys.argv[1:]),
        "git_commit": git_commit(),
    }
    if args.json:
        atomic_write_json(Path(args.json), {"points": points, **meta})
    if args.plot:
        files = plot_ber(points, args.plot)
        print("figure:", ", ".join(str(f) for f in files))
    return 0
