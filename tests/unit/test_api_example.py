"""The documented Python API example (examples/api_example.py) runs, on the toy systems of
test_experiments_toysys.py in a temporary data directory, and its docs page (docs/howto/python-api.md) shows
the same code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _example():
    spec = importlib.util.spec_from_file_location("api_example", ROOT / "examples" / "api_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_example_runs_and_its_numbers_agree(tmp_path, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 60\n"
        "snr_db: [0, 6]\ncbr: [1/4]\nsystems: [{name: toy-analog}, {name: toy-analog-2}]\n"
    )
    results, comparison, figure = _example().api_demo(
        str(cfg),
        ["n_images=40"],
        tmp_path / "run",
        tmp_path / "data",
        "toy-analog",
        "toy-analog-2",
        allow_code=True,
    )
    assert len(results) == 4 and set(results["label"]) == {"toy-analog", "toy-analog-2"}
    assert (results["n_images"] == 40).all()  # the override reached the grid
    assert len(comparison) == 2 and (comparison["n"] == 40).all()
    # the paired table's accuracies are the tidy table's, cell by cell
    a = results[results["system"] == "toy-analog"].sort_values("snr_db")["acc_top1"].to_numpy()
    np.testing.assert_allclose(comparison.sort_values("snr_db")["acc_a"].to_numpy(), a)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "figure:" in capsys.readouterr().out


def test_docs_show_the_example_code():
    page = (ROOT / "docs" / "howto" / "python-api.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    example = (ROOT / "examples" / "api_example.py").read_text(encoding="utf-8")
    body = {line.strip() for line in example.splitlines()}
    # the page's code from step 2 on, with its literals standing for the function's parameters
    lines = code.split("# 2.", 1)[1].splitlines()[1:]
    lines = [
        ln.strip()
        .replace('"runs/api-example"', "out")
        .replace('"kbsc-no-codec", "hevc+ldpc@10"', "system_a, system_b")
        for ln in lines
        if ln.strip()
    ]
    missing = [ln for ln in lines if ln not in body]
    assert not missing, f"docs/howto/python-api.md lines not in examples/api_example.py: {missing}"
    assert "from kbsc.experiments import compare_systems, load_config, load_outcomes, load_results" in code
