"""The BER figure shares the grid figures' style: colour fixed per modulation order, channel display names."""

import matplotlib

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from kbsc.bridge.ber_plot import plot_ber  # noqa: E402
from kbsc.util.figstyle import mod_color  # noqa: E402


def _points(mods):
    pts = []
    for mod, m in mods:
        for snr in (0.0, 5.0, 10.0):
            ber = 0.1 / (1 + snr) / m
            pts.append(
                {
                    "channel": "rayleigh",
                    "csi": "perfect",
                    "modulation": mod,
                    "bits_per_symbol": m,
                    "snr_db": snr,
                    "ber": ber,
                    "ber_lo": ber * 0.9,
                    "ber_hi": ber * 1.1,
                    "errors": 100,
                }
            )
    return pts


def test_ber_figure_colours_are_fixed_per_modulation(tmp_path, monkeypatch):
    figs = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    for i, order in enumerate(([("qpsk", 2), ("16qam", 4)], [("16qam", 4), ("qpsk", 2)])):
        written = plot_ber(_points(order), tmp_path / f"ber{i}")
        assert {p.suffix for p in written} == {".pdf", ".png"}
    for fig in figs:
        ax = fig.axes[0]
        handles, labels = ax.get_legend_handles_labels()
        by_label = dict(zip(labels, handles, strict=True))
        qpsk = by_label["QPSK, OFDM Rayleigh (block fading)"]
        assert to_hex(qpsk[0].get_color()) == to_hex(mod_color(2))
        assert to_hex(by_label["16QAM, OFDM Rayleigh (block fading)"][0].get_color()) == to_hex(mod_color(4))
        real_close(fig)
