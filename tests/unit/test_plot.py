"""`kbsc plot` makes every figure kind from a small fabricated results table, in PDF and PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kbsc.cli import main
from kbsc.experiments.plot import IEEE_COLUMN_IN, aggregate, summary_table
from kbsc.experiments.results import RESULT_COLUMNS


def small_results() -> pd.DataFrame:
    rows = []
    for system, mcs in [("kbsc", None), ("hevc+ldpc", 4), ("hevc+ldpc", 10)]:
        for snr in (-4.0, 0.0, 10.0):
            for cbr in (1 / 24, 1 / 8, 1 / 2):
                for seed in (0, 1):
                    n = 100
                    acc = (
                        min(0.95, 0.3 + 0.03 * snr + cbr) if system == "kbsc" else (0.8 if snr > 0 else 0.05)
                    )
                    c1 = int(round(acc * n))
                    bler = np.nan if system == "kbsc" else (0.02 if snr > 0 else 0.9)
                    rows.append(
                        {
                            "system": system,
                            "dataset": "synthetic100",
                            "extractor": "standin",
                            "channel": "awgn",
                            "csi": "perfect",
                            "snr_db": snr,
                            "cbr": cbr,
                            "mcs": mcs,
                            "seed": seed,
                            "n_images": n,
                            "acc_top1": c1 / n,
                            "n_correct_top1": c1,
                            "n_correct_top5": c1,
                            "bler": bler,
                            "psnr": np.nan if system == "kbsc" else 20 + 10 * cbr,
                            "sent_frac": 1.0,
                        }
                    )
    df = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    df["mcs"] = df["mcs"].astype("Int64")
    return df


def test_plot_command_writes_all_figure_kinds(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    small_results().to_parquet(run_dir / "results.parquet", index=False)
    assert main(["plot", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "top-1 % (CSI perfect)" in out and "hevc+ldpc (MCS 10)" in out
    figs = run_dir / "figures"
    names = {p.name for p in figs.iterdir()}
    for stem in (
        "acc_vs_cbr_awgn_perfect_snr10",
        "acc_vs_snr_awgn_perfect_cbr1over24",
        "bler_vs_snr_awgn_perfect_cbr1over2",
        "psnr_vs_cbr_awgn_perfect_snr-4",
    ):
        assert {f"{stem}.pdf", f"{stem}.png"} <= names, stem
    main_png = (figs / "main_acc_vs_cbr.png").read_bytes()
    assert main_png == (figs / "acc_vs_cbr_awgn_perfect_snr0.png").read_bytes()  # SNR nearest 4 dB
    pdf = (figs / "acc_vs_cbr_awgn_perfect_snr10.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    with Image.open(figs / "acc_vs_cbr_awgn_perfect_snr10.png") as im:
        width_in = im.size[0] / 300
    assert 0.75 * IEEE_COLUMN_IN < width_in < 1.15 * IEEE_COLUMN_IN  # column width (tight bbox trims a bit)


def test_aggregate_pools_seeds_with_wilson_bands():
    agg = aggregate(small_results())
    row = agg[(agg["series"] == "kbsc") & (agg["snr_db"] == 10.0) & (agg["cbr"] == 0.5)].iloc[0]
    assert row["n"] == 200 and row["seeds"] == 2
    assert row["acc_lo"] < row["acc"] < row["acc_hi"]
    hevc = agg[agg["series"] == "hevc+ldpc (MCS 4)"]
    assert (hevc["bler_n"] == 200).all() and np.allclose(
        hevc["bler"], np.where(hevc["snr_db"] > 0, 0.02, 0.9)
    )
    assert "1/24" in summary_table(small_results())


def test_demo_runs_plots_and_summarises(tmp_path, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 30\n"
        "snr_db: [-6, 0, 6]\ncbr: [1/16, 1/4]\nsystems: [{name: toy-analog}, {name: toy-analog-2}]\n"
    )
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--backend",
            "serial",
            "--data-dir",
            str(tmp_path / "d"),
            "--allow-code",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "toy-analog-2" in text and "1/16" in text and f"figure files in {out / 'figures'}" in text
    assert "-6.0" in text and " 6.0" in text and " 0.0 " not in text  # only the lowest and highest SNR
    assert (out / "figures" / "acc_vs_snr_awgn_perfect_cbr1over4.png").exists()


def _axes_lines(results, kind, fixed):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from kbsc.experiments.plot import FIGURES, _draw

    spec = next(f for f in FIGURES if f.kind == kind)
    agg = aggregate(results)
    fig, ax = plt.subplots()
    _draw(ax, spec, agg[agg[spec.fixed] == fixed])
    lines = list(ax.get_lines())
    labels = ax.get_legend_handles_labels()[1]
    plt.close(fig)
    return lines, labels


def test_system_style_is_fixed_by_name_not_by_order():
    """Issue 17: a system's colour changed between result sets; it is now a function of its name."""
    full = small_results()
    only_hevc = full[full["system"] == "hevc+ldpc"].iloc[::-1]  # other systems absent, reversed order

    def colours(df):
        lines, _ = _axes_lines(df, "acc_vs_snr", 0.5)
        return {ln.get_label(): ln.get_color() for ln in lines if not ln.get_label().startswith("_")}

    a, b = colours(full), colours(only_hevc)
    assert (
        a["hevc+ldpc (MCS 4)"] == b["hevc+ldpc (MCS 4)"]
        and a["hevc+ldpc (MCS 10)"] == b["hevc+ldpc (MCS 10)"]
    )
    assert len(set(a.values())) == 3  # three series, three colours


def test_zero_bler_is_drawn_at_the_floor_and_partial_cells_are_marked():
    df = small_results()
    zero = (df["system"] == "hevc+ldpc") & (df["snr_db"] == 10.0)
    df.loc[zero, "bler"] = 0.0
    df.loc[zero & (df["mcs"] == 10), "sent_frac"] = 0.5
    lines, labels = _axes_lines(df, "bler_vs_snr", 0.5)
    floor_pts = [ln for ln in lines if ln.get_marker() == "v" and len(ln.get_ydata())]
    ys = sorted(float(y) for ln in floor_pts for y in ln.get_ydata())
    assert ys == [1 / (2 * 200), 1 / (2 * 100)]  # 0 of 200 sent (MCS 4), 0 of 100 sent (MCS 10, half sent)
    assert any("1/(2n)" in lab for lab in labels) and any("not all sent" in lab for lab in labels)


def test_psnr_band_and_channel_titles():
    from kbsc.experiments.plot import figure_title

    df = small_results()
    df["psnr_lo"], df["psnr_hi"] = df["psnr"] - 1.0, df["psnr"] + 1.0  # per seed, 100 images each
    agg = aggregate(df)
    row = agg[(agg["series"] == "hevc+ldpc (MCS 4)") & (agg["snr_db"] == 0.0) & (agg["cbr"] == 0.5)].iloc[0]
    # pooled over two seeds with equal means: the half-width shrinks by about sqrt(2)
    assert row["psnr_hi"] - row["psnr"] == pytest.approx(1.0 / np.sqrt(2), rel=0.02)
    assert (
        figure_title("rayleigh", "perfect", "snr_db", 4.0)
        == "OFDM Rayleigh (block fading), CSI perfect, SNR = 4 dB"
    )


def test_link_figure_shows_bler_and_channel_uses(tmp_path):
    from kbsc.experiments.plot import make_figures

    df = small_results()
    df["channel_uses"] = df["cbr"] * 3072
    harq = df[(df["system"] == "hevc+ldpc") & (df["mcs"] == 10)].copy()
    harq["system"], harq["mcs"] = "hevc+ldpc-harq", np.nan
    harq["channel_uses"] *= 0.8
    harq["bler_first"] = 0.1
    df = pd.concat([df, harq], ignore_index=True)
    agg = aggregate(df)
    row = agg[(agg["system"] == "hevc+ldpc-harq")].iloc[0]
    assert row["bler_first"] == pytest.approx(0.1)
    assert row["channel_uses"] == pytest.approx(0.8 * row["cbr"] * 3072)
    names = {p.name for p in make_figures(df, tmp_path, formats=("png",))}
    assert "link_vs_snr_awgn_perfect_cbr1over2.png" in names
