"""One figure style for every kbsc figure (grid figures and the BER figure): rc parameters, a fixed colour and
marker per system name, display names of channels, and log axes on which zeros stay visible.

Colours are the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), extended by four of Paul Tol's
muted colours for the systems beyond eight; each system also has its own marker and line style so that
curves read in grayscale. The map is keyed by system name, never by order of appearance, so a system looks
the same in every result set; an unknown name gets a style picked by a stable hash (CRC-32) of the name.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = [
    "CHANNEL_NAMES",
    "FLOOR_MARKER",
    "IEEE_COLUMN_IN",
    "MARKERS",
    "PALETTE",
    "RC",
    "SYSTEM_STYLES",
    "channel_display",
    "log_floor",
    "mod_color",
    "series_style",
]

IEEE_COLUMN_IN = 3.5

RC: dict[str, Any] = {
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

# Okabe–Ito, then Tol's muted indigo, teal, wine, olive
PALETTE = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#332288",
    "#44AA99", "#882255", "#999933",
]  # fmt: skip
MARKERS = ["o", "s", "^", "D", "P", "X", "*", "h", "<", ">", "p", "d"]  # "v" is kept for the floor
LINESTYLES: list[Any] = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]

SYSTEM_STYLES: dict[str, dict[str, Any]] = {
    "kbsc": {"color": "#0072B2", "marker": "o", "linestyle": "-"},
    "kbsc-snr": {"color": "#56B4E9", "marker": "h", "linestyle": "-"},
    "kbsc-csi": {"color": "#0072B2", "marker": "8", "linestyle": "--"},
    "kbsc-no-codec": {"color": "#56B4E9", "marker": "s", "linestyle": ":"},
    "kbsc-digital": {"color": "#332288", "marker": "p", "linestyle": "-."},
    "hevc+ldpc": {"color": "#D55E00", "marker": "^", "linestyle": "--"},
    "hevc+ldpc-best": {"color": "#E69F00", "marker": ">", "linestyle": "-."},
    "hevc+ldpc-amc": {"color": "#CC79A7", "marker": "<", "linestyle": "--"},
    "hevc+ldpc-harq": {"color": "#AA4499", "marker": ">", "linestyle": "-"},
    "hevc+capacity": {"color": "#000000", "marker": "D", "linestyle": ":"},
    "swinjscc": {"color": "#009E73", "marker": "P", "linestyle": "-"},
    "deepjscc": {"color": "#44AA99", "marker": "X", "linestyle": "-."},
    "deepjscc-adaptive": {"color": "#882255", "marker": "*", "linestyle": "--"},
    "deepjscc-adaptive+softcast": {"color": "#999933", "marker": "d", "linestyle": "-"},
}

CHANNEL_NAMES = {
    "awgn": "AWGN",
    "rayleigh": "OFDM Rayleigh (block fading)",
    "authors-awgn": "authors' AWGN",
    "authors-rayleigh": "authors' Rayleigh (|h| per symbol)",
    **{f"tdl-{x}": f"OFDM TDL-{x.upper()}" for x in "abcde"},
}

#: marker of a value plotted at the floor of a log axis (it was 0: below the axis)
FLOOR_MARKER = "v"


def channel_display(name: str) -> str:
    """The documentation's name of a channel (``rayleigh`` → ``OFDM Rayleigh (block fading)``)."""
    return CHANNEL_NAMES.get(str(name), str(name))


def _shade(color: str, factor: float) -> str:
    """``color`` darkened (factor < 1) or lightened toward white (factor > 1)."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    rgb = rgb * factor if factor <= 1 else rgb + (255 - rgb) * (factor - 1)
    return "#" + "".join(f"{int(round(v)):02X}" for v in np.clip(rgb, 0, 255))


def series_style(system: str, mcs: int | None = None) -> dict[str, Any]:
    """Colour, marker and line style of a system's curve (``mcs`` for the fixed-MCS link): fixed by name."""
    base = SYSTEM_STYLES.get(system)
    if base is None:
        h = zlib.crc32(system.encode())
        base = {
            "color": PALETTE[h % len(PALETTE)],
            "marker": MARKERS[(h // 7) % len(MARKERS)],
            "linestyle": LINESTYLES[(h // 97) % len(LINESTYLES)],
        }
    style = dict(base)
    if mcs is not None:  # one colour family per system; the MCS picks shade, marker and line style
        m = int(mcs)
        style["color"] = _shade(base["color"], 0.5 + 0.06 * (m % 17))
        style["marker"] = MARKERS[m % len(MARKERS)]
        style["linestyle"] = LINESTYLES[(m // 3) % len(LINESTYLES)]
    return style


def mod_color(bits_per_symbol: int) -> str:
    """Colour of a modulation order in the BER figure (QPSK, 16-QAM, 64-QAM, 256-QAM, ...): fixed by order."""
    return PALETTE[(int(bits_per_symbol) // 2 - 1) % len(PALETTE)]


def log_floor(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values for a log axis: a 0 out of ``n`` trials is drawn at 1/(2n) (half the smallest non-zero value
    the estimate could take), flagged so that it gets :data:`FLOOR_MARKER`. Returns (y_plot, at_floor)."""
    y = np.asarray(y, dtype=float)
    n = np.asarray(n, dtype=float)
    at_floor = (y == 0) & (n > 0)
    with np.errstate(divide="ignore"):
        out = np.where(at_floor, 1.0 / (2.0 * np.where(n > 0, n, 1.0)), y)
    return np.where(out > 0, out, np.nan), at_floor
