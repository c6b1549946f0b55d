"""Paper figures from ``results.parquet`` (matplotlib Agg, no LaTeX).

For every (channel, CSI): accuracy vs CBR per SNR, accuracy vs SNR per CBR, BLER vs SNR per CBR and PSNR vs
CBR per SNR. IEEE single-column width (3.5 in), PDF and PNG, no LaTeX. Style from :mod:`kbsc.util.figstyle`
(one colour, marker and line style per system *name*, the same in every result set; channel display names).

* Bands: 95 % Wilson intervals for accuracy and BLER (counts pooled over seeds); for PSNR the 95 %
  Student-t interval of the mean over images (``psnr_lo``/``psnr_hi``; several seeds: images pooled).
* A BLER of 0 (no failed block among n sent) is drawn at 1/(2n) with a downward triangle (its band reaches
  up to the Wilson upper limit), and the legend says so; it does not vanish from the log axis.
* A point of a cell where not every image was sent (``sent_frac`` < 1) has a hollow marker, and on the BLER
  and PSNR figures a label with the percentage sent (BLER counts only the sent images).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kbsc.experiments.stats import wilson
from kbsc.util.cbr import cbr_label
from kbsc.util.figstyle import FLOOR_MARKER, IEEE_COLUMN_IN, RC, channel_display, log_floor, series_style

__all__ = ["FigureSpec", "aggregate", "figure_title", "make_figures", "series_name", "summary_table"]

__all__ += ["IEEE_COLUMN_IN"]


def series_name(system: str, mcs) -> str:
    return system if mcs is None or pd.isna(mcs) else f"{system} (MCS {int(mcs)})"


def aggregate(results: pd.DataFrame) -> pd.DataFrame:
    """Pool seeds: one row per (series, channel, csi, snr_db, cbr): accuracy and BLER from pooled counts with
    Wilson bands, PSNR mean over the pooled images with a t-interval, pooled sent fraction."""
    from scipy.stats import t as student_t

    df = results.copy()
    df["series"] = [series_name(s, m) for s, m in zip(df["system"], df["mcs"], strict=True)]
    sent_frac = df["sent_frac"].where(df["sent_frac"].notna(), 1.0)
    sent = df["n_images"] * sent_frac
    df["_sent"] = sent
    df["_bler_n"] = np.where(df["bler"].notna(), np.round(sent), 0).astype(int)
    df["_bler_k"] = np.where(df["bler"].notna(), np.round(df["bler"].fillna(0) * sent), 0).astype(int)
    # PSNR: per cell mean m_i, n_i images, sd_i from the t half-width; pooled: Σ n_i m_i and Σ of squares
    n_i = df["n_images"].astype(float)
    has = df["psnr"].notna()
    if {"psnr_lo", "psnr_hi"} <= set(df.columns):
        q = student_t.ppf(0.975, np.maximum(n_i - 1, 1))
        sd = ((df["psnr_hi"] - df["psnr_lo"]) / 2 / q * np.sqrt(n_i)).fillna(0.0)
    else:
        sd = pd.Series(0.0, index=df.index)
    df["_pn"] = np.where(has, n_i, 0.0)
    df["_ps"] = np.where(has, df["psnr"].fillna(0) * n_i, 0.0)
    df["_pss"] = np.where(has, (sd**2) * np.maximum(n_i - 1, 0) + n_i * df["psnr"].fillna(0) ** 2, 0.0)
    df["_pband"] = has & df.get("psnr_lo", pd.Series(np.nan, index=df.index)).notna()
    # channel uses spent per image (HARQ spends less than the budget) and first transmissions' BLER (OLLA)
    uses = df["channel_uses"] if "channel_uses" in df.columns else pd.Series(np.nan, index=df.index)
    df["_un"] = np.where(uses.notna(), n_i, 0.0)
    df["_us"] = np.where(uses.notna(), uses.fillna(0) * n_i, 0.0)
    first = df["bler_first"] if "bler_first" in df.columns else pd.Series(np.nan, index=df.index)
    df["_fn"] = np.where(first.notna(), np.round(sent), 0.0)
    df["_fk"] = np.where(first.notna(), first.fillna(0) * np.round(sent), 0.0)
    keys = ["series", "channel", "csi", "snr_db", "cbr"]
    g = df.groupby(keys, sort=True, dropna=False)
    out = g.agg(
        system=("system", "first"),
        mcs=("mcs", "first"),
        n=("n_images", "sum"),
        c1=("n_correct_top1", "sum"),
        sent=("_sent", "sum"),
        bler_k=("_bler_k", "sum"),
        bler_n=("_bler_n", "sum"),
        pn=("_pn", "sum"),
        ps=("_ps", "sum"),
        pss=("_pss", "sum"),
        pband=("_pband", "all"),
        seeds=("seed", "nunique"),
        un=("_un", "sum"),
        us=("_us", "sum"),
        fn=("_fn", "sum"),
        fk=("_fk", "sum"),
    ).reset_index()
    out["channel_uses"] = np.where(out["un"] > 0, out["us"] / out["un"].clip(lower=1), np.nan)
    out["bler_first"] = np.where(out["fn"] > 0, out["fk"] / out["fn"].clip(lower=1), np.nan)
    out = out.drop(columns=["un", "us", "fn", "fk"])
    out["sent_frac"] = out["sent"] / out["n"].clip(lower=1)
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
    pn = out["pn"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(pn > 0, out["ps"] / pn, np.nan)
        var = np.where(pn > 1, (out["pss"] - pn * mean**2) / (pn - 1), np.nan)
        half = student_t.ppf(0.975, np.maximum(pn - 1, 1)) * np.sqrt(np.clip(var, 0, None) / pn)
    out["psnr"] = mean
    out["psnr_lo"] = np.where(out["pband"], mean - half, np.nan)
    out["psnr_hi"] = np.where(out["pband"], mean + half, np.nan)
    return out.drop(columns=["ps", "pss", "pband"])


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
    FigureSpec("psnr_vs_cbr", "cbr", "psnr", "snr_db", "PSNR of the image shown [dB]", True),
]


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


def figure_title(channel: str, csi: str, fixed_name: str, fixed_value: float) -> str:
    """``OFDM Rayleigh (block fading), CSI perfect, SNR = 4 dB``: the documentation's channel names."""
    return f"{channel_display(channel)}, CSI {csi}, {_fixed_label(fixed_name, fixed_value)}"


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
    written: list[Path] = []
    with plt.rc_context(RC):
        for (channel, csi), grp in agg.groupby(["channel", "csi"], sort=True):
            for spec in FIGURES:
                data = grp[grp[spec.y].notna()]
                for fixed, sub in data.groupby(spec.fixed, sort=True):
                    if sub[spec.x].nunique() < 2:
                        continue
                    fig, ax = plt.subplots(figsize=(IEEE_COLUMN_IN, IEEE_COLUMN_IN * 0.72))
                    _draw(ax, spec, sub)
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
                        floor = 1.0 / (2.0 * max(float(sub["bler_n"].max()), 1.0))
                        ax.set_ylim(min(1e-3, floor / 1.5), 1.05)
                    elif spec.y == "acc":
                        ax.set_ylim(0, 1)
                    ax.set_ylabel(spec.ylabel)
                    ax.set_title(figure_title(channel, csi, spec.fixed, fixed), fontsize=7.5)
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
        written += _link_figures(agg, out_dir, formats, dpi)
    written += _main_figure(agg, out_dir, formats)
    return written


def _link_figures(agg: pd.DataFrame, out_dir: Path, formats: tuple[str, ...], dpi: int) -> list[Path]:
    """``link_vs_snr_<channel>_<csi>_cbr<x>.*``, per (channel, CSI, CBR) with a coded link: realized BLER
    (solid: after the last transmission; dashed: first transmissions, where a link reports them) and the
    channel uses actually spent per image (mean over all images, 0 for one not sent; a one-shot link spends
    its whole budget on every image) vs SNR."""
    import matplotlib.pyplot as plt

    written: list[Path] = []
    coded = agg[agg["bler"].notna()]
    for (channel, csi, cbr), sub in coded.groupby(["channel", "csi", "cbr"], sort=True):
        if sub["snr_db"].nunique() < 2:
            continue
        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(IEEE_COLUMN_IN, IEEE_COLUMN_IN * 1.1))
        floor = 1.0 / (2.0 * max(float(sub["bler_n"].max()), 1.0))
        for series, s in sub.groupby("series", sort=True):
            s = s.sort_values("snr_db")
            mcs = s["mcs"].iloc[0]
            st = series_style(str(s["system"].iloc[0]), None if pd.isna(mcs) else int(mcs))
            ax1.plot(s["snr_db"], np.maximum(s["bler"], floor), label=str(series), **st)
            if s["bler_first"].notna().any():
                dashed = {**st, "linestyle": ":", "mfc": "white"}
                first = np.maximum(s["bler_first"], floor)
                ax1.plot(s["snr_db"], first, label=f"{series} (1st tx)", **dashed)
            ax2.plot(s["snr_db"], s["channel_uses"], label=None, **st)
        ax1.set_yscale("log")
        ax1.set_ylim(min(1e-3, floor / 1.5), 1.05)
        ax1.set_ylabel("realized BLER")
        ax2.set_ylabel("channel uses spent per image")
        ax2.set_ylim(bottom=0)
        ax2.set_xlabel("SNR (Es/N0 per data RE) [dB]")
        ax1.set_title(figure_title(channel, csi, "cbr", cbr), fontsize=7.5)
        ax2.legend(
            *ax1.get_legend_handles_labels(),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.3),
            ncol=2,
            frameon=False,
        )
        stem = f"link_vs_snr_{_slug(channel)}_{_slug(csi)}_cbr{_slug(cbr)}"
        for fmt in formats:
            path = out_dir / f"{stem}.{fmt}"
            fig.savefig(path, dpi=dpi, metadata={"CreationDate": None} if fmt == "pdf" else None)
            written.append(path)
        plt.close(fig)
    return written


def _draw(ax, spec: FigureSpec, sub: pd.DataFrame) -> None:
    """The curves of one figure: a fixed style per system, bands, floor markers, sent-fraction marks."""
    any_floor = any_partial = False
    for series, s in sub.groupby("series", sort=True):
        s = s.sort_values(spec.x)
        mcs = s["mcs"].iloc[0]
        st = series_style(str(s["system"].iloc[0]), None if pd.isna(mcs) else int(mcs))
        x = s[spec.x].to_numpy(float)
        y = s[spec.y].to_numpy(float)
        at_floor = np.zeros(len(y), dtype=bool)
        if spec.logy:
            y, at_floor = log_floor(y, s["bler_n"].to_numpy(float))
        partial = s["sent_frac"].to_numpy(float) < 1.0 - 1e-9
        full = ~at_floor & ~partial
        ax.plot(
            x,
            y,
            label=series,
            color=st["color"],
            linestyle=st["linestyle"],
            marker=st["marker"],
            markevery=[int(i) for i in np.flatnonzero(full)],
        )
        hollow = ~at_floor & partial
        ax.plot(x[hollow], y[hollow], linestyle="none", marker=st["marker"], color=st["color"], mfc="white")
        ax.plot(
            x[at_floor],
            y[at_floor],
            linestyle="none",
            marker=FLOOR_MARKER,
            color=st["color"],
            mfc="white" if partial[at_floor].any() else st["color"],
            markersize=4.5,
        )
        any_floor |= bool(at_floor.any())
        any_partial |= bool(partial.any())
        if spec.band:
            lo = s[f"{spec.y}_lo"].to_numpy(float)
            hi = s[f"{spec.y}_hi"].to_numpy(float)
            if spec.logy:
                lo = np.where(at_floor, y, np.clip(lo, 1e-6, None))  # 0 errors: from the floor up
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.18, linewidth=0)
        if spec.y in ("bler", "psnr"):
            for xi, yi, f in zip(
                x[partial], y[partial], s["sent_frac"].to_numpy(float)[partial], strict=True
            ):
                if np.isfinite(yi):
                    ax.annotate(
                        f"{100 * f:.0f}%",
                        (xi, yi),
                        xytext=(2, 2),
                        textcoords="offset points",
                        fontsize=5,
                        color=st["color"],
                    )
    if any_floor:
        ax.plot([], [], linestyle="none", marker=FLOOR_MARKER, color="0.3", label="0 errors: drawn at 1/(2n)")
    if any_partial:
        label = "hollow: not all sent" + (" (label: % sent)" if spec.y in ("bler", "psnr") else "")
        ax.plot([], [], linestyle="none", marker="o", color="0.3", mfc="white", label=label)


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
