"""Paper figures from ``results.parquet`` (matplotlib Agg, no LaTeX).

For every (channel, CSI): accuracy vs CBR per SNR, accuracy vs SNR per CBR, BLER vs SNR per CBR and PSNR vs
CBR per SNR. IEEE single-column width (3.5 in), PDF and PNG, 95 % Wilson bands (pooled over seeds), the
Okabe–Ito colour-blind-safe palette, and a distinct marker and line style per system so the curves read in
grayscale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbsc.experiments.config import cbr_label
from kbsc.experiments.stats import wilson

__all__ = ["FigureSpec", "aggregate", "make_figures", "series_name", "summary_table"]

IEEE_COLUMN_IN = 3.5
# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2))]


def series_name(system: str, mcs) -> str:
    return system if mcs is None or pd.isna(mcs) else f"{system} (MCS {int(mcs)})"


def aggregate(results: pd.DataFrame) -> pd.DataFrame:
    """Pool seeds: one row per (series, channel, csi, snr_db, cbr), pooled accuracy/BLER, Wilson bands."""
    df = results.copy()
    df["series"] = [series_name(s, m) for s, m in zip(df["system"], df["mcs"], strict=True)]
    sent = df["n_images"] * df["sent_frac"].where(df["sent_frac"].notna(), 1.0)
    df["_bler_n"] = np.where(df["bler"].notna(), np.round(sent), 0).astype(int)
    df["_bler_k"] = np.where(df["bler"].notna(), np.round(df["bler"].fillna(0) * sent), 0).astype(int)
    keys = ["series", "channel", "csi", "snr_db", "cbr"]
    g = df.groupby(keys, sort=True, dropna=False)
    out = g.agg(
        n=("n_images", "sum"),
        c1=("n_correct_top1", "sum"),
        bler_k=("_bler_k", "sum"),
        bler_n=("_bler_n", "sum"),
        psnr=("psnr", "mean"),
        seeds=("seed", "nunique"),
    ).reset_index()
    out["acc"] = out["c1"] / out["n"]
    ci = [wilson(int(c), int(n)) for c, n in zip(out["c1"], out["n"], strict=True)]
    out["acc_lo"] = [lo for lo, _ in ci]
    out["acc_hi"] = [hi for _, hi in ci]
    out["bler"] = np.where(out["bler_n"] > 0, out["bler_k"] / out["bler_n"].clip(lower=1), np.nan)
    bci = [
        wilson(int(k), int(n)) if n > 0 else (np.nan, np.nan)
        for k, n in zip(out["bler_k"], out["bler_n"], strict=True)
    ]
    out["bler_lo"] = [lo for lo, _ in bci]
    out["bler_hi"] = [hi for _, hi in bci]
    return out


@dataclass
class FigureSpec:
    kind: str  # acc_vs_cbr | acc_vs_snr | bler_vs_snr | psnr_vs_cbr
    x: str
    y: str
    fixed: str
    ylabel: str
    band: bool
    logy: bool = False


FIGURES = [
    FigureSpec("acc_vs_cbr", "cbr", "acc", "snr_db", "Top-1 semantic accuracy", True),
    FigureSpec("acc_vs_snr", "snr_db", "acc", "cbr", "Top-1 semantic accuracy", True),
    FigureSpec("bler_vs_snr", "snr_db", "bler", "cbr", "BLER (per image)", True, logy=True),
    FigureSpec("psnr_vs_cbr", "cbr", "psnr", "snr_db", "PSNR of received image [dB]", False),
]


def _style_table(series: list[str]) -> dict[str, dict]:
    n = len(PALETTE)
    return {
        s: {
            "color": PALETTE[i % n],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[(i + i // n) % len(LINESTYLES)],
        }
        for i, s in enumerate(series)
    }


def _slug(x) -> str:
    s = (
        cbr_label(x).replace("/", "over")
        if isinstance(x, float) and x < 1
        else f"{x:g}"
        if isinstance(x, float)
        else str(x)
    )
    return re.sub(r"[^A-Za-z0-9.+-]", "_", s)


def _fixed_label(name: str, value: float) -> str:
    return f"SNR = {value:g} dB" if name == "snr_db" else f"CBR = {cbr_label(value)}"


def make_figures(
    results: pd.DataFrame, out_dir: str | Path, formats: tuple[str, ...] = ("pdf", "png"), dpi: int = 300
) -> list[Path]:
    """Write all figures; return the paths written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    agg = aggregate(results)
    styles = _style_table(
        list(dict.fromkeys(series_name(s, m) for s, m in zip(results["system"], results["mcs"], strict=True)))
    )
    rc = {
        "text.usetex": False,
        "font.size": 8,
        "axes.labelsize": 8,
        "legend.fontsize": 6.5,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "lines.linewidth": 1.1,
        "lines.markersize": 3.5,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "pdf.fonttype": 42,
        "savefig.bbox": "tight",
    }
    written: list[Path] = []
    with plt.rc_context(rc):
        for (channel, csi), grp in agg.groupby(["channel", "csi"], sort=True):
            for spec in FIGURES:
                data = grp[grp[spec.y].notna()]
                for fixed, sub in data.groupby(spec.fixed, sort=True):
                    if sub[spec.x].nunique() < 2:
                        continue
                    fig, ax = plt.subplots(figsize=(IEEE_COLUMN_IN, IEEE_COLUMN_IN * 0.72))
                    for series, s in sub.groupby("series", sort=False):
                        s = s.sort_values(spec.x)
                        x = s[spec.x].to_numpy(float)
                        y = s[spec.y].to_numpy(float)
                        if spec.logy:
                            y = np.where(y > 0, y, np.nan)
                        st = styles.get(series, {})
                        ax.plot(x, y, label=series, **st)
                        if spec.band:
                            lo = s[f"{spec.y}_lo"].to_numpy(float)
                            hi = s[f"{spec.y}_hi"].to_numpy(float)
                            if spec.logy:
                                lo = np.clip(lo, 1e-4, None)
                            ax.fill_between(x, lo, hi, color=st.get("color"), alpha=0.18, linewidth=0)
                    if spec.x == "cbr":
                        ax.set_xscale("log")
                        ticks = sorted(sub["cbr"].unique())
                        ax.set_xticks(ticks)
                        ax.set_xticklabels([cbr_label(t) for t in ticks], rotation=0)
                        ax.minorticks_off()
                        ax.set_xlabel("CBR (channel uses per source value)")
                    else:
                        ax.set_xlabel("SNR (Es/N0 per data RE) [dB]")
                    if spec.logy:
                        ax.set_yscale("log")
                        ax.set_ylim(1e-4, 1.05)
                    elif spec.y == "acc":
                        ax.set_ylim(0, 1)
                    ax.set_ylabel(spec.ylabel)
                    ax.set_title(f"{channel}, CSI {csi}, {_fixed_label(spec.fixed, fixed)}", fontsize=7.5)
                    # below the axes: inside, "best" still covered curves once there were 7+ systems
                    n_entries = len(ax.get_legend_handles_labels()[1])
                    ax.legend(
                        loc="upper center",
                        bbox_to_anchor=(0.5, -0.2),
                        ncol=2 if n_entries > 3 else 1,
                        frameon=False,
                    )
                    stem = (
                        f"{spec.kind}_{_slug(channel)}_{_slug(csi)}_{spec.fixed.split('_')[0]}{_slug(fixed)}"
                    )
                    for fmt in formats:
                        path = out_dir / f"{stem}.{fmt}"
                        fig.savefig(path, dpi=dpi, metadata={"CreationDate": None} if fmt == "pdf" else None)
                        written.append(path)
                    plt.close(fig)
    written += _main_figure(agg, out_dir, formats)
    return written


def _main_figure(agg: pd.DataFrame, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """``main_acc_vs_cbr.*``: a copy of the accuracy-vs-CBR figure of the OFDM Rayleigh channel (else the
    first channel), perfect CSI (else the first), at the SNR nearest 4 dB (crossover region)."""
    import shutil

    if agg.empty:
        return []
    channels = sorted(agg["channel"].unique())
    channel = "rayleigh" if "rayleigh" in channels else channels[0]
    sub = agg[agg["channel"] == channel]
    modes = sorted(sub["csi"].unique())
    csi = "perfect" if "perfect" in modes else modes[0]
    snrs = np.array(sorted(sub["snr_db"].unique()), dtype=float)
    snr = float(snrs[np.argmin(np.abs(snrs - 4.0))])
    stem = f"acc_vs_cbr_{_slug(channel)}_{_slug(csi)}_snr{_slug(snr)}"
    out = []
    for fmt in formats:
        src = out_dir / f"{stem}.{fmt}"
        if src.exists():
            out.append(Path(shutil.copyfile(src, out_dir / f"main_acc_vs_cbr.{fmt}")))
    return out


def summary_table(results: pd.DataFrame, csi: str | None = None, snrs: list[float] | None = None) -> str:
    """A compact text table: top-1 accuracy in % per (channel, SNR, system) × CBR, for one CSI mode.

    csi: default ``perfect`` if present, else the first; snrs: the SNRs to show (default all).
    """
    agg = aggregate(results)
    if agg.empty:
        return "(no results)"
    modes = sorted(agg["csi"].unique())
    csi = csi or ("perfect" if "perfect" in modes else modes[0])
    agg = agg[agg["csi"] == csi]
    if snrs is not None:
        agg = agg[agg["snr_db"].isin(snrs)]
    agg = agg.assign(cbr_l=[cbr_label(c) for c in agg["cbr"]], acc_pct=(100 * agg["acc"]).round(1))
    order = [cbr_label(c) for c in sorted(agg["cbr"].unique())]
    table = agg.pivot_table(
        index=["channel", "snr_db", "series"], columns="cbr_l", values="acc_pct", aggfunc="first"
    )
    table = table.reindex(columns=[c for c in order if c in table.columns])
    table.columns.name = f"top-1 % (CSI {csi}) at CBR"
    with pd.option_context("display.width", 160, "display.max_rows", 500, "display.max_columns", 20):
        return table.to_string(na_rep="-")
