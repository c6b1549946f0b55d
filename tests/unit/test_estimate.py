"""`kbsc estimate`: a grid priced from a bench report before it runs (sums, resumption, CLIP, bad reports)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kbsc.cli import main
from kbsc.errors import DataError
from kbsc.experiments.config import parse_config
from kbsc.experiments.grid import context_spec, expand
from kbsc.experiments.results import SUMMARY_KEY, cell_path
from kbsc.tools.estimate import estimate_grid, format_estimate, load_bench

GRID = {
    "name": "tiny",
    "n_images": 100,
    "snr_db": [0, 10],
    "cbr": ["1/8", "1/2"],
    "channels": ["awgn"],
    "systems": [{"name": "hevc+ldpc-best"}, {"name": "kbsc"}, {"name": "swinjscc"}],
}


def _report(**extra) -> dict:
    rows = [
        {"system": "hevc+ldpc-best", "registry_name": "hevc+ldpc-best", "cbr": 0.125, "s_per_image": 0.01},
        {"system": "hevc+ldpc-best", "registry_name": "hevc+ldpc-best", "cbr": 0.5, "s_per_image": 0.03},
        {"system": "kbsc", "registry_name": "kbsc", "cbr": 0.5, "s_per_image": 0.001},
    ]
    return {
        "grid": {"per_image": rows, "parallel_efficiency": 0.5},
        "machine": {"cpu_count": 2},
        "provenance": {"git_commit": "abcdef0123"},
        **extra,
    }


def _write(path, report) -> str:
    path.write_text(json.dumps(report))
    return str(path)


def test_each_pending_cell_costs_its_images_times_the_measured_per_image_cost():
    cfg = parse_config(GRID)
    est = estimate_grid(cfg, _report(), workers=2)
    best = 2 * 100 * (0.01 + 0.03)  # 2 SNRs at each CBR
    sem = 4 * 100 * 0.001  # one CBR measured: every CBR is priced at it
    assert est["cell_seconds"] == pytest.approx(best + sem, abs=0.05)
    assert est["wall_s"] == pytest.approx((best + sem) / (2 * 0.5), abs=0.05)
    assert est["unmeasured_systems"] == ["swinjscc"] and est["cells"] == 12 and est["cells_done"] == 0
    assert list(est["by_system"]) == ["hevc+ldpc-best", "kbsc"]  # largest first
    assert "hevc_one_off_s" not in est  # the report has no HEVC stage figure
    hevc = {"link": {"stages": {"hevc_grid": {"ms_per_image": 300.0}}}}
    assert estimate_grid(cfg, _report(**hevc), workers=2)["hevc_one_off_s"] == pytest.approx(30.0)
    # cells already stored are not counted again
    tasks = [t for t in expand(cfg, context_spec(cfg, ".")) if t.label == "hevc+ldpc-best"]
    done = {t.cell_hash for t in tasks if t.cell.cbr == 0.5}
    est2 = estimate_grid(cfg, _report(), workers=2, done=done)
    assert est2["cells_done"] == 2
    assert est2["cell_seconds"] == pytest.approx(best + sem - 2 * 100 * 0.03, abs=0.05)


def test_a_clip_extractor_adds_its_cost_for_every_image_that_reaches_it():
    cfg = parse_config({**GRID, "extractor": {"name": "clip-vit-b32"}})
    feats = {
        "clip_s_per_image": 0.05,
        "standin_s_per_image": 0.01,
        "extractions_per_image": [{"system": "kbsc", "cbr": 0.5, "images": 1.0}],
    }
    plain = estimate_grid(cfg, _report(), workers=1)
    clip = estimate_grid(cfg, _report(features=feats), workers=1)
    assert plain["extractor_priced"] == "stand-in" and clip["extractor_priced"] == "clip"
    assert clip["extra_cell_seconds"] == pytest.approx(4 * 100 * 0.04, abs=0.05)
    assert "priced as the stand-in" in format_estimate(cfg, plain, _report(), "x.json")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no bench report at"),
        ("{not json", "not readable JSON"),
        (json.dumps({"grid": {"paper": {}}}), "no per-image grid costs"),
        (
            json.dumps({"grid": {"per_image": [{"registry_name": "kbsc", "cbr": -1, "s_per_image": 1}]}}),
            "malformed grid.per_image entry",
        ),
    ],
)
def test_bad_bench_reports_get_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bench.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        load_bench(path)
    assert "\n" not in str(err.value) and "kbsc bench --json" in str(err.value)


def test_cli_prints_the_estimate_and_skips_stored_cells(tmp_path, capsys):
    bench = _write(tmp_path / "bench.json", _report())
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(json.dumps(GRID))  # JSON is YAML
    assert main(["estimate", str(cfg_path), "--bench", bench, "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 12 cells (0 already done, 12 to run), 100 images per cell" in out
    assert "by system: hevc+ldpc-best" in out and "not priced (no bench figure): swinjscc" in out
    # a results directory with one stored cell: that cell is not priced again
    cfg = parse_config(GRID)
    task = next(t for t in expand(cfg, context_spec(cfg, ".")) if t.label == "kbsc")
    path = cell_path(tmp_path / "run", task.cell_hash)
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}).replace_schema_metadata({SUMMARY_KEY: b"{}"}), path)
    args = ["estimate", str(cfg_path), "--bench", bench, "--out", str(tmp_path / "run")]
    assert main(args) == 0
    assert "(1 already done, 11 to run)" in capsys.readouterr().out
    assert main(["estimate", str(cfg_path), "--bench", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kbsc: error: no bench report at") and "\n" not in err


def test_kbsc_run_gets_a_one_line_estimate_only_for_long_grids(tmp_path):
    from kbsc.tools.estimate import run_banner

    cfg = parse_config(GRID)
    long = _report()
    long["grid"]["per_image"][1]["s_per_image"] = 30.0  # hevc+ldpc-best at CBR 1/2: 2 cells x 3,000 s
    bench = _write(tmp_path / "bench.json", long)
    line = run_banner(cfg, tmp_path / "run", workers=2, bench=bench)
    assert line is not None and "\n" not in line
    assert line.startswith("kbsc: 12 cells to run, estimated 1 h 40 min with 2 workers")
    assert "hevc+ldpc-best is 100 % of it" in line
    short = _write(tmp_path / "short.json", _report())  # 8.4 cell-seconds: no banner
    assert run_banner(cfg, tmp_path / "run", workers=2, bench=short) is None
    # no usable report: the run goes ahead without a line
    assert run_banner(cfg, tmp_path / "run", workers=2, bench=tmp_path / "missing.json") is None
