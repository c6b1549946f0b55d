"""Figure of ``kbsc ber``: simulated BER points with their intervals over the closed-form curves.

IEEE single-column width (3.5 in), PDF and PNG, matplotlib's mathtext only (no LaTeX needed); the style
(rc parameters, palette, channel display names) is that of the grid figures, :mod:`kbsc.util.figstyle`, with a
colour fixed per modulation order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kbsc.bridge.channel_spec import parse_channel
from kbsc.bridge.theory import ber_qam
from kbsc.util.figstyle import IEEE_COLUMN_IN, MARKERS, RC, channel_display, mod_color

__all__ = ["THEORY_OF_CHANNEL", "plot_ber"]

# which closed form is the reference for a channel with perfect CSI (per-RE Rayleigh for NLoS TDL profiles)
THEORY_OF_CHANNEL = {
    "awgn": "awgn",
    "authors-awgn": "awgn",
    "rayleigh": "rayleigh",
    "tdl-a": "rayleigh",
    "tdl-b": "rayleigh",
    "tdl-c": "rayleigh",
    "sionna-tdl-a": "rayleigh",
    "sionna-tdl-b": "rayleigh",
    "sionna-tdl-c": "rayleigh",
    "cdl-a": "rayleigh",
    "cdl-b": "rayleigh",
    "cdl-c": "rayleigh",
}


def plot_ber(points: list[dict[str, Any]], path: str | Path) -> list[Path]:
    """Write ``path`` with suffixes .pdf and .png; returns the written files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    series: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for p in points:
        series.setdefault((p["channel"], p["csi"], p["modulation"]), []).append(p)
    mods = list(dict.fromkeys(p["modulation"] for p in points))
    chans = list(dict.fromkeys((p["channel"], p["csi"]) for p in points))
    colors = {p["modulation"]: mod_color(p["bits_per_symbol"]) for p in points}
    markers = MARKERS
    with plt.rc_context({**RC, "legend.fontsize": 5.5, "savefig.bbox": "standard"}):
        fig, ax = plt.subplots(figsize=(IEEE_COLUMN_IN, IEEE_COLUMN_IN * 0.74))
        snrs = np.array([p["snr_db"] for p in points])
        fine = np.linspace(snrs.min(), snrs.max(), 200)
        drawn: set[tuple[str, int]] = set()
        for (ch, csi), marker in zip(chans, markers * 4, strict=False):
            kind = THEORY_OF_CHANNEL.get(parse_channel(ch).name) if csi == "perfect" else None
            for mod in mods:
                pts = sorted(series.get((ch, csi, mod), []), key=lambda p: p["snr_db"])
                if not pts:
                    continue
                m = pts[0]["bits_per_symbol"]
                if kind and (kind, m) not in drawn:
                    drawn.add((kind, m))
                    ax.semilogy(
                        fine,
                        ber_qam(kind, fine, m),
                        color=colors[mod],
                        ls="-" if kind == "awgn" else "--",
                        lw=0.7,
                        alpha=0.8,
                    )
                shown = [p for p in pts if p["errors"] > 0]
                if not shown:
                    continue
                x = np.array([p["snr_db"] for p in shown])
                y = np.array([p["ber"] for p in shown])
                err = np.array(
                    [[p["ber"] - p["ber_lo"] for p in shown], [p["ber_hi"] - p["ber"] for p in shown]]
                )
                ax.errorbar(
                    x,
                    y,
                    yerr=err,
                    fmt=marker,
                    ms=2.8,
                    mfc="none",
                    mew=0.7,
                    color=colors[mod],
                    elinewidth=0.7,
                    capsize=1.5,
                    label=f"{mod.upper()}, {channel_display(ch)}" + (f" ({csi})" if csi != "perfect" else ""),
                )
        kinds = {kind for kind, _ in drawn}
        if "awgn" in kinds:
            ax.plot([], [], "k-", lw=0.7, label="theory, AWGN")
        if "rayleigh" in kinds:
            ax.plot([], [], "k--", lw=0.7, label="theory, Rayleigh")
        ax.set_xlabel(r"SNR $E_s/N_0$ per data RE (dB)")
        ax.set_ylabel("uncoded BER")
        lo = min([p["ber_lo"] for p in points if p["errors"] > 0] or [1e-5])
        ax.set_ylim(max(lo / 2, 1e-7), 0.6)
        ax.legend(ncol=2, frameon=False, loc="lower left")
        fig.tight_layout(pad=0.3)
        out = []
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".pdf", ".png"):
            target = path.with_suffix(suffix)
            fig.savefig(target, dpi=300 if suffix == ".png" else None)
            out.append(target)
        plt.close(fig)
    return out
