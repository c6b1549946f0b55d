"""The README's headline block is exactly the one generated from the committed results/ (issue 13, item 6)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kbsc.errors import DataError
from kbsc.tools.readme_block import (
    BEGIN,
    END,
    SECTIONS,
    markers,
    render_block,
    render_blocks,
    update_readme,
)

ROOT = Path(__file__).resolve().parents[2]


def test_readme_holds_the_block_of_the_committed_results(monkeypatch):
    results = ROOT / "results" / "quick"
    if not (results / "results.parquet").exists():
        pytest.skip("no committed results in this checkout")
    text = (ROOT / "README.md").read_text()
    monkeypatch.chdir(ROOT)  # the block names the paths as the command does, relative to the repository
    blocks = render_blocks(Path("results/quick"), Path("results/bench.json"))
    assert set(blocks) == {"", *SECTIONS}
    for name, block in blocks.items():
        begin, end = markers(name)
        assert text.count(begin) == 1 and text.count(end) == 1, f"README lacks one {begin} … {end}"
        assert block in text, (
            f"README results block {name or 'headline'!r} is stale: run `kbsc readme-results` "
            "after regenerating results"
        )


def test_block_skips_missing_columns_and_replaces_only_between_markers(tmp_path):
    df = pd.DataFrame(
        {
            "system": ["kbsc", "hevc+ldpc"],
            "channel": ["awgn", "awgn"],
            "csi": ["perfect", "perfect"],
            "snr_db": [10.0, 10.0],
            "cbr": [0.125, 0.125],
            "mcs": pd.array([None, 4], dtype="Int64"),
            "n_images": [100, 100],
            "acc_top1": [0.8, 0.25],
            "sent_frac": [1.0, 0.5],
        }
    )  # no intervals, no provenance, no bench file
    df.to_parquet(tmp_path / "results.parquet")
    block = render_block(tmp_path, tmp_path / "missing.json")
    assert block.startswith(BEGIN) and block.endswith(END)
    assert "| kbsc | 80.0 |" in block and "| hevc+ldpc (MCS 4) | 25.0 (50.0 % sent) |" in block
    old = f"intro\n{BEGIN}\nold numbers\n{END}\nrest\n"
    assert update_readme(old, block) == f"intro\n{block}\nrest\n"
    with pytest.raises(DataError, match="block"):
        update_readme("no markers", block)


def _fabricated_frame() -> pd.DataFrame:
    """Two SNRs, two CBRs; every value distinct so that a cell in the wrong place shows."""
    rows = []
    systems = [
        ("kbsc", None, 1.0),
        ("kbsc-no-codec", None, None),
        ("kbsc-digital", 4, None),
        ("kbsc-digital", 10, None),
        ("kbsc-digital-capacity", None, None),
        ("hevc+ldpc", 4, None),
        ("hevc+ldpc", 10, None),
        ("hevc+ldpc-amc", None, None),
        ("hevc+capacity", None, None),
        ("deepjscc-adaptive", None, 0.0),
        ("swinjscc", None, 0.0),
    ]
    acc = 0.0
    for channel in ("awgn", "rayleigh"):
        for s, (system, mcs, conv) in enumerate(systems):
            for snr in (0.0, 10.0):
                for cbr in (0.125, 0.5):
                    if system == "deepjscc-adaptive" and cbr == 0.125:
                        continue  # a system without a cell at one CBR
                    acc += 0.001
                    rows.append(
                        {
                            "system": system,
                            "channel": channel,
                            "csi": "perfect",
                            "snr_db": snr,
                            "cbr": cbr,
                            "mcs": mcs,
                            "seed": 0,
                            "n_images": 100,
                            "acc_top1": round(acc, 3),
                            "psnr": 10.0 + s + snr / 10 + cbr,
                            "sent_frac": 1.0,
                            "bits_per_image": 64.0 * (mcs or 1) * cbr * 8
                            if system == "kbsc-digital"
                            else np.nan,
                            "model_converged": conv,
                        }
                    )
    rows.append({**rows[0], "channel": "authors-rayleigh", "acc_top1": 0.987})
    rows.append({**rows[0], "csi": "estimated", "acc_top1": 0.555})  # not shown: perfect CSI only
    df = pd.DataFrame(rows)
    df["mcs"] = df["mcs"].astype("Int64")
    return df


def test_section_tables_from_a_fabricated_frame(tmp_path):
    df = _fabricated_frame()
    df.to_parquet(tmp_path / "results.parquet")
    blocks = render_blocks(tmp_path)

    def acc(system, channel, snr, cbr, mcs=None):
        sub = df[(df.system == system) & (df.channel == channel) & (df.csi == "perfect")]
        sub = sub[(sub.snr_db == snr) & (sub.cbr == cbr)]
        sub = sub[sub.mcs.isna()] if mcs is None else sub[sub.mcs == mcs]
        assert len(sub) == 1
        return f"{100 * sub.acc_top1.iloc[0]:.1f}"

    def psnr(system, channel, snr, cbr, mcs=None):
        sub = df[(df.system == system) & (df.channel == channel) & (df.snr_db == snr) & (df.cbr == cbr)]
        sub = sub[sub.mcs.isna()] if mcs is None else sub[sub.mcs == mcs]
        return f"{sub.psnr.iloc[0]:.1f}"

    sem = blocks["semantic"]
    begin, end = markers("semantic")
    assert sem.startswith(begin) and sem.endswith(end)
    assert "| channel | system | SNR | CBR 1/8 | CBR 1/2 |" in sem
    a, b = acc("kbsc", "rayleigh", 10.0, 0.125), acc("kbsc", "rayleigh", 10.0, 0.5)
    assert f"| OFDM Rayleigh (block fading) | kbsc | 10 dB | {a} | {b} |" in sem
    a, b = acc("kbsc-no-codec", "awgn", 0.0, 0.125), acc("kbsc-no-codec", "awgn", 0.0, 0.5)
    assert f"| AWGN | kbsc-no-codec | 0 dB | {a} | {b} |" in sem
    assert "| kbsc | 0 dB | 98.7 | - |" in sem  # the authors' channel, only where present
    assert "55.5" not in sem and "kbsc-digital" not in sem

    dig = blocks["digital"]
    assert "| channel | CBR | system | 0 dB | 10 dB |" in dig
    a, b = acc("kbsc-digital", "awgn", 0.0, 0.5, 10), acc("kbsc-digital", "awgn", 10.0, 0.5, 10)
    assert f"| AWGN | 1/2 | kbsc-digital MCS 10 | {a} | {b} |" in dig
    a = acc("kbsc-digital-capacity", "rayleigh", 0.0, 0.125)
    assert f"| OFDM Rayleigh (block fading) | 1/8 | kbsc-digital-capacity | {a} |" in dig
    h, c = acc("hevc+ldpc", "rayleigh", 10.0, 0.5, 10), acc("hevc+capacity", "rayleigh", 10.0, 0.5)
    h0, c0 = acc("hevc+ldpc", "rayleigh", 0.0, 0.5, 10), acc("hevc+capacity", "rayleigh", 0.0, 0.5)
    row = "| OFDM Rayleigh (block fading) | 1/2 | hevc+ldpc MCS 10 / hevc+capacity |"
    assert f"{row} {h0} / {c0} | {h} / {c} |" in dig
    assert "MCS 4: 256 / 1,024; MCS 10: 640 / 2,560" in dig  # code bits at CBR 1/8 / 1/2

    jscc = blocks["jscc"]
    assert jscc.count("| channel | system | SNR | CBR 1/8 | CBR 1/2 |") == 2  # PSNR, then top-1
    psnr_part, acc_part = jscc.split("top-1 accuracy in %")
    p = psnr("deepjscc-adaptive", "awgn", 10.0, 0.5)
    assert f"| AWGN | deepjscc-adaptive | 10 dB | - | {p} † |" in psnr_part  # no cell at 1/8, not converged
    a, b = psnr("hevc+ldpc", "rayleigh", 0.0, 0.125, 4), psnr("hevc+ldpc", "rayleigh", 0.0, 0.5, 4)
    assert f"| OFDM Rayleigh (block fading) | hevc+ldpc MCS 4 | 0 dB | {a} | {b} |" in psnr_part
    a, b = acc("hevc+ldpc-amc", "awgn", 10.0, 0.125), acc("hevc+ldpc-amc", "awgn", 10.0, 0.5)
    assert f"| AWGN | hevc+ldpc-amc | 10 dB | {a} | {b} |" in acc_part
    a = acc("swinjscc", "rayleigh", 0.0, 0.5)
    assert f"| {a} † |" in acc_part and "did not converge" in acc_part
    assert "| kbsc |" not in jscc

    old = f"a\n{BEGIN}\nx\n{END}\nb\n{begin}\nold\n{end}\nc\n"
    assert update_readme(old, sem, "semantic") == f"a\n{BEGIN}\nx\n{END}\nb\n{sem}\nc\n"
    with pytest.raises(DataError, match="results:digital:begin"):
        update_readme(old, dig, "digital")
    assert render_block(tmp_path, name="jscc") == jscc
