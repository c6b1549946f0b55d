"""The grid runner on a fabricated dataset and test-only systems (see test_experiments_toysys.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock

from kbsc.cli import main
from kbsc.errors import ConfigError, KbscError
from kbsc.experiments.config import parse_config
from kbsc.experiments.results import RESULT_COLUMNS, cell_path, load_outcomes
from kbsc.experiments.runner import FingerprintMismatch, run_experiment

REQUIRED = (
    "system, dataset, extractor, channel, csi, snr_db, cbr, mcs, seed, n_images, acc_top1, acc_top1_lo, "
    "acc_top1_hi, acc_top5, ber, bler, psnr, bits_per_image, fingerprint, wall_s"
).split(", ")


def toy_config(**changes):
    data = {
        "plugins": ["test_experiments_toysys"],
        "dataset": {"name": "toy"},
        "extractor": {"name": "none"},
        "n_images": 60,
        "snr_db": [-6, 0, 6],
        "cbr": ["1/16", "1/4"],
        "channels": ["awgn", "rayleigh"],
        "seeds": [0, 1],
        "systems": [{"name": "toy-analog"}, {"name": "toy-analog-2", "mcs": [1, 2], "channels": ["awgn"]}],
    }
    data.update(changes)
    return parse_config(data, allow_code=True)  # a test plug-in module


def run(cfg, out, **kw):
    kw.setdefault("backend", "serial")
    kw.setdefault("allow_code", True)  # the toy systems come from a plug-in module
    return run_experiment(cfg, out, data_dir=out.parent / "data", show_progress=False, **kw)


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """All but wall time and provenance (the git commit moves if the tree changes between two runs)."""
    return df.drop(columns=["wall_s", "provenance"])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """An uninterrupted serial run (the reference)."""
    out = tmp_path_factory.mktemp("clean") / "run"
    res = run(toy_config(), out)
    return out, res


def test_tables_have_the_design_columns(clean):
    out, res = clean
    df = pd.read_parquet(out / "results.parquet")
    assert set(REQUIRED) <= set(df.columns) and list(df.columns) == RESULT_COLUMNS
    # 2 channels x 3 SNR x 2 CBR x 2 seeds for toy-analog, 1 channel x 3 x 2 x 2 MCS x 2 for toy-analog-2
    assert len(df) == 24 + 24 and res.n_computed == 48
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == 48 and csv["ber"].isna().all()  # metrics that do not apply are empty
    outc = load_outcomes(out)
    assert len(outc) == 48 * 60
    assert {"image_id", "label", "retrieved_top1", "correct_top1", "correct_top5", "x_psnr"} <= set(
        outc.columns
    )
    # accuracies agree with the per-image outcomes, intervals contain them
    g = outc.groupby("cell_hash")["correct_top1"].mean()
    assert (df.set_index("cell_hash")["acc_top1"] - g).abs().max() < 1e-12
    assert ((df["acc_top1_lo"] <= df["acc_top1"]) & (df["acc_top1"] <= df["acc_top1_hi"])).all()
    # accuracy rises with SNR on the toy channel (the table is not garbage)
    acc = df[df["system"] == "toy-analog"].groupby("snr_db")["acc_top1"].mean()
    assert acc.is_monotonic_increasing and acc.iloc[-1] > acc.iloc[0] + 0.2
    # paired systems share fingerprints cell by cell
    key = ["channel", "csi", "snr_db", "cbr", "seed"]
    assert (df.groupby(key)["fingerprint"].nunique() == 1).all()
    assert (out / "provenance.json").exists() and (out / "config.yaml").exists()


def test_rerun_skips_finished_cells(clean, tmp_path):
    out, res = clean
    again = run(toy_config(), out)
    assert again.n_computed == 0 and again.n_done_before == 48
    pd.testing.assert_frame_equal(again.results, res.results)


def test_crash_then_rerun_equals_clean_run(clean, tmp_path, monkeypatch):
    out = tmp_path / "crashy"
    monkeypatch.setenv("TOY_CRASH_SNR", "6")
    with pytest.raises(KbscError, match="failed on cell .* toy crash requested .*rerun to resume"):
        run(toy_config(), out)
    done = list((out / "cells").glob("*.parquet"))
    assert 0 < len(done) < 48 and not (out / "results.parquet").exists()
    monkeypatch.delenv("TOY_CRASH_SNR")
    res = run(toy_config(), out)
    assert res.n_done_before == len(done) and res.n_computed == 48 - len(done)
    pd.testing.assert_frame_equal(comparable(res.results), comparable(clean[1].results))
    pd.testing.assert_frame_equal(load_outcomes(out), load_outcomes(clean[0]))


def test_a_half_written_cell_file_is_recomputed(clean, tmp_path):
    import shutil

    out = tmp_path / "torn"
    shutil.copytree(clean[0], out)
    victim = cell_path(out, clean[1].results["cell_hash"].iloc[5])
    victim.write_bytes(victim.read_bytes()[:100])
    res = run(toy_config(), out)
    assert res.n_computed == 1
    pd.testing.assert_frame_equal(comparable(res.results), comparable(clean[1].results))


def test_worker_count_and_backend_do_not_change_results(clean, tmp_path):
    cfg = toy_config(
        systems=[{"name": "toy-analog"}, {"name": "toy-analog-2", "channels": ["awgn"]}], seeds=[3]
    )
    ref = run(cfg, tmp_path / "serial")
    for workers in (1, 2):
        res = run(cfg, tmp_path / f"local{workers}", backend="local", workers=workers)
        pd.testing.assert_frame_equal(comparable(res.results), comparable(ref.results))
        pd.testing.assert_frame_equal(
            load_outcomes(tmp_path / f"local{workers}"), load_outcomes(tmp_path / "serial")
        )


def test_fingerprint_mismatch_is_an_error(tmp_path):
    cfg = toy_config(systems=[{"name": "toy-analog"}, {"name": "toy-skewed"}], seeds=[0], snr_db=[0])
    with pytest.raises(FingerprintMismatch, match="fingerprint of 'toy-skewed' .* differs from 'toy-analog'"):
        run(cfg, tmp_path / "fp")


def test_lock_refuses_a_concurrent_run(tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    with FileLock(str(out / ".lock")):
        with pytest.raises(KbscError, match="another `kbsc run` is writing to"):
            run(toy_config(), out)


def test_config_change_is_refused_unless_forced(clean, tmp_path):
    import shutil

    out = tmp_path / "changed"
    shutil.copytree(clean[0], out)
    cfg = toy_config(snr_db=[-6, 0, 6, 12])
    with pytest.raises(ConfigError, match=r"different configuration \(differs in: snr_db\).*--force"):
        run(cfg, out)
    res = run(cfg, out, force=True)
    assert res.n_done_before == 48 and res.n_computed == 16  # only the new SNR's cells


def test_unknown_system_and_plugin(tmp_path):
    with pytest.raises(ConfigError, match="unknown system 'nope'; choose one of: .*toy-analog"):
        run(toy_config(systems=[{"name": "nope"}]), tmp_path / "a")
    assert run(toy_config(), tmp_path / "a").n_computed == 48  # the failed attempt left nothing in the way
    with pytest.raises(ConfigError, match="plugin module 'no_such_plugin' not found"):
        run(toy_config(plugins=["no_such_plugin"]), tmp_path / "b")


def test_cli_run_compare(tmp_path, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 40\n"
        "snr_db: [0, 6]\ncbr: [1/4]\nsystems: [{name: toy-analog}, {name: toy-analog-2}]\n"
    )
    out = tmp_path / "cli"
    code = main(
        [
            "run",
            str(cfg),
            "--out",
            str(out),
            "--backend",
            "serial",
            "--seeds",
            "0,1",
            "--data-dir",
            str(tmp_path / "d"),
            "--allow-code",
        ]
    )
    assert code == 0 and "8 cells (0 already done, 8 computed)" in capsys.readouterr().out
    assert len(pd.read_csv(out / "results.csv")) == 8
    code = main(["compare", str(out), "toy-analog", "toy-analog-2", "--csv", str(tmp_path / "cmp.csv")])
    assert code == 0 and "McNemar" in capsys.readouterr().out
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    assert len(cmp) == 4 and ((cmp["diff_lo"] <= cmp["diff"]) & (cmp["diff"] <= cmp["diff_hi"])).all()


@pytest.mark.parametrize("backend", ["serial", "local"])
def test_a_user_error_in_a_worker_is_one_line(tmp_path, capsys, monkeypatch, backend):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 20\n"
        "snr_db: [0]\ncbr: [1/4]\nsystems: [{name: toy-analog}]\n"
    )
    argv = [
        "run",
        str(cfg),
        "--out",
        str(tmp_path / "out"),
        "--backend",
        backend,
        "--workers",
        "2",
        "--data-dir",
        str(tmp_path / "d"),
        "--allow-code",
    ]
    monkeypatch.setenv("TOY_USER_ERROR_SNR", "0")  # spawned pool workers inherit it
    capsys.readouterr()
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("kbsc: error: system 'toy-analog' failed on cell"), err
    assert err[0].endswith("toy option out of range for this cell (finished cells are kept; rerun to resume)")
    monkeypatch.delenv("TOY_USER_ERROR_SNR")
    monkeypatch.setenv("TOY_CRASH_SNR", "0")  # a bug: one line that names its traceback file
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "RuntimeError: toy crash requested" in err[0], err
    where = re.search(r"\[traceback in (\S+)\]", err[0])
    assert where, err
    assert "Traceback" in Path(where.group(1)).read_text()


def test_run_summary_names_each_model_and_what_to_do_when_it_did_not_converge(tmp_path):
    import math

    import pandas as pd

    from kbsc.experiments.runner import RunSummary

    df = pd.DataFrame(
        {
            "system": ["kbsc", "kbsc", "swinjscc", "hevc+ldpc"],
            "model": ["kbsc-k384-a", "kbsc-k384-a", "swinjscc-kvar-b", ""],
            "model_converged": [1.0, 1.0, 0.0, math.nan],
        }
    )
    lines = RunSummary(tmp_path, 4, 0, 4, 1.0, df).model_lines()
    assert len(lines) == 2
    assert lines[0] == "model kbsc-k384-a (kbsc): converged"
    assert lines[1].startswith("model swinjscc-kvar-b (swinjscc): NOT converged") and "max_steps" in lines[1]
