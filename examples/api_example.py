"""The Python API in a few lines (the README's "Python API" section): run a small grid, load the tidy results
table, compare two systems pairwise on the same images and channel realizations, plot from the table with
pandas.

    python examples/api_example.py                    # tiny grid on the prepared default workspace (1-2 min)
    python examples/api_example.py --set n_images=500 --set "snr_db=[0,4,10]"   # any `kbsc run --set`

It needs a prepared workspace (`kbsc prepare`, or `make demo`) in the data directory; otherwise the first run
builds it (minutes). The test suite runs the same :func:`api_demo` on a toy system.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt  # without a display, matplotlib draws to files (Agg)
import pandas as pd

from kbsc.experiments import compare_systems, load_config, load_outcomes, load_results, run_experiment

# The quick preset cut down to one SNR, one CBR, one channel and two systems.
TINY = [
    "n_images=100",
    "snr_db=[10]",
    "cbr=[1/8]",
    "channels=[awgn]",
    "systems=[{name: kbsc-no-codec}, {name: hevc+ldpc, mcs: [10]}]",
]


def api_demo(
    config: str = "quick",
    overrides: list[str] | None = None,
    out: str | Path = "runs/api-example",
    data_dir: str | Path | None = None,
    system_a: str = "kbsc-no-codec",
    system_b: str = "hevc+ldpc@10",
    allow_code: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Run ``config`` with ``overrides`` into ``out``; return (results, paired comparison, figure path)."""
    # 1. Run (or resume) a grid: a preset name or a YAML path, with `kbsc run --set`-style overrides.
    cfg = load_config(config, TINY if overrides is None else overrides, allow_code=allow_code)
    run_experiment(cfg, out, backend="serial", data_dir=data_dir, show_progress=False, allow_code=allow_code)

    # 2. The tidy table: one row per cell (system, channel, csi, snr_db, cbr, mcs, seed) with the metrics.
    results = load_results(out)
    results["label"] = results["system"] + results["mcs"].map(lambda m: "" if pd.isna(m) else f"@{int(m)}")
    print(results[["label", "channel", "snr_db", "cbr", "acc_top1", "acc_top1_lo", "acc_top1_hi"]])

    # 3. Paired comparison on the same images and realizations (exact McNemar, Newcombe interval).
    comparison = compare_systems(load_outcomes(out), system_a, system_b)
    print(comparison[["channel", "snr_db", "cbr", "acc_a", "acc_b", "diff", "diff_lo", "diff_hi", "p_value"]])

    # 4. Plot from the table with pandas: top-1 accuracy vs SNR with its 95 % (Wilson) interval.
    fig, ax = plt.subplots(figsize=(3.5, 2.6))
    for label, g in results.sort_values("snr_db").groupby("label"):
        err = [g["acc_top1"] - g["acc_top1_lo"], g["acc_top1_hi"] - g["acc_top1"]]
        ax.errorbar(g["snr_db"], g["acc_top1"], yerr=err, marker="o", capsize=3, label=label)
    ax.set(xlabel="SNR (dB)", ylabel="top-1 accuracy", ylim=(0, 1))
    ax.legend(fontsize=7)
    figure = Path(out) / "api_example.png"
    fig.savefig(figure, dpi=150, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {figure}")
    return results, comparison, figure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="quick", help="preset name or YAML path (default: quick)")
    ap.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", help="override (repeatable)")
    ap.add_argument("--out", default="runs/api-example")
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    overrides = TINY + args.set if args.set else None
    api_demo(args.config, overrides, args.out, args.data_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
