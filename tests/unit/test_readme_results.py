"""The README's headline block is exactly the one generated from the committed results/ (issue 13, item 6)."""

from pathlib import Path

import pandas as pd
import pytest

from kbsc.errors import DataError
from kbsc.experiments.readme_block import BEGIN, END, render_block, update_readme

ROOT = Path(__file__).resolve().parents[2]


def test_readme_holds_the_block_of_the_committed_results(monkeypatch):
    results = ROOT / "results" / "quick"
    if not (results / "results.parquet").exists():
        pytest.skip("no committed results in this checkout")
    text = (ROOT / "README.md").read_text()
    monkeypatch.chdir(ROOT)  # the block names the paths as the command does, relative to the repository
    block = render_block(Path("results/quick"), Path("results/bench.json"))
    assert block in text, (
        "README results block is stale: run `kbsc readme-results` after regenerating results"
    )
    assert text.count(BEGIN) == 1 and text.count(END) == 1


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
