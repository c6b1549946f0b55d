"""Sub-commands of the ``bridge`` area (see :mod:`kbsc.cli`): ``kbsc ber``.

``kbsc ber --channel awgn rayleigh cdl-c --speed 30 --csi perfect --modulation qpsk 16qam --snr 0 5 10
--bits 100000 --json out.json --plot out.png`` measures the uncoded BER through the bridge (one slot per
"image", image ids 0, 1, …), prints a table, writes JSON (points + closed forms) and plots simulated points
with 95 % intervals over the closed-form AWGN and Rayleigh curves. Channel options (--delay-spread, --speed,
--carrier-frequency, --channel-option KEY=VALUE) apply to every --channel; the channel column shows the label.
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
    p.add_argument(
        "--channel",
        nargs="+",
        default=["awgn"],
        help="channel model(s) or labels such as tdl-a[speed=30] (default: awgn); cdl-a..cdl-e, umi, ... "
        "run through Sionna",
    )
    p.add_argument("--delay-spread", type=float, default=None, help="RMS delay spread in s (TDL/CDL)")
    p.add_argument("--speed", type=float, default=None, help="UE speed in m/s (Doppler)")
    p.add_argument("--carrier-frequency", type=float, default=None, help="carrier frequency in Hz")
    p.add_argument(
        "--channel-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any option of the channel model, e.g. normalize=slot (repeatable)",
    )
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

    from kbsc.bridge.ber import simulate_ber  # lazy: `kbsc --help` imports every command module
    from kbsc.bridge.ber_plot import (  # lazy: `kbsc --help` imports every command module
        THEORY_OF_CHANNEL,
        plot_ber,
    )
    from kbsc.bridge.channel_spec import (  # lazy: `kbsc --help` imports every command module
        channel_label,
        parse_channel,
    )
    from kbsc.bridge.modulation import bits_per_symbol  # lazy: `kbsc --help` imports every command module
    from kbsc.bridge.theory import ber_qam  # lazy: `kbsc --help` imports every command module
    from kbsc.bridge.training_keys import open_bridge  # lazy: `kbsc --help` imports every command module
    from kbsc.util import atomic_write_json, progress  # lazy: `kbsc --help` imports every command module
    from kbsc.util.gitstate import (  # lazy: `kbsc --help` imports every command module
        git_commit,
        guard_results_path,
    )

    plot_files = [Path(args.plot).with_suffix(x) for x in (".pdf", ".png")] if args.plot else []
    guard_results_path([args.json, *plot_files], args.allow_dirty)
    if args.bits <= 0:
        raise ConfigError(f"--bits must be positive, got {args.bits}")
    if args.batch <= 0:
        raise ConfigError(f"--batch must be positive, got {args.batch}")
    mods = [(mod, bits_per_symbol(mod)) for mod in args.modulation]
    options = channel_options(args)
    labels = [channel_label(ch, **options) for ch in args.channel]
    bridges = [(lab, open_bridge(lab, csi, args.seed)) for lab in labels for csi in args.csi]
    for s in args.snr:
        bridges[0][1]._check_snr(s, 1)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    jobs = [(lab, b, mod, s) for lab, b in bridges for mod, _ in mods for s in args.snr]
    points = []
    bar = progress(jobs, desc="kbsc ber", unit="point")
    for lab, b, mod, s in bar:
        pt = simulate_ber(b, mod, s, args.bits, seed=args.seed, batch=args.batch)
        row = {**pt.to_dict(), "channel": lab}
        kind = THEORY_OF_CHANNEL.get(parse_channel(lab).name) if b.csi == "perfect" else None
        row["theory"] = kind
        row["ber_theory"] = float(ber_qam(kind, s, pt.bits_per_symbol)) if kind else None
        points.append(row)
    print(
        f"{'channel':<24} {'csi':<10} {'mod':<7} {'SNR':>6} {'bits':>9} {'errors':>8} "
        f"{'BER':>10} {'95% CI':>23} {'theory':>10}"
    )
    for r in points:
        th = f"{r['ber_theory']:.3e}" if r["ber_theory"] is not None else "-"
        print(
            f"{r['channel']:<24} {r['csi']:<10} {r['modulation']:<7} {r['snr_db']:>6.1f} {r['bits']:>9d} "
            f"{r['errors']:>8d} {r['ber']:>10.3e} [{r['ber_lo']:.3e}, {r['ber_hi']:.3e}] {th:>10}"
        )
    meta = {
        "grid": bridges[0][1].grid.to_dict(),
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


def channel_options(args: argparse.Namespace) -> dict[str, object]:
    """The channel options of ``kbsc ber``'s flags (--delay-spread, --speed, --carrier-frequency,
    --channel-option KEY=VALUE), applied to every ``--channel``."""
    from kbsc.bridge.channel_spec import parse_channel  # lazy: `kbsc --help` imports every command module

    opts: dict[str, object] = {}
    for key in ("delay_spread", "speed", "carrier_frequency"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    for item in args.channel_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--channel-option {item!r} must look like KEY=VALUE")
        if key.strip() in opts:
            raise ConfigError(f"channel option {key.strip()} given twice")
        opts.update(parse_channel(f"x[{key.strip()}={value.strip()}]").options)
    return opts
