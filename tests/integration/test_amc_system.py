"""hevc+ldpc-amc end to end on the toy world: one link per image at the MCS its receiver chose."""

import numpy as np
import pytest

from kbsc.errors import ConfigError
from kbsc.jscc.toy import toy_context
from kbsc.systems.base import Cell, get_system


def _cell(snr, system="hevc+ldpc-amc", mcs=None, channel="rayleigh", csi="ls-linear"):
    return Cell(
        system=system,
        dataset="toy",
        extractor="pp",
        channel=channel,
        csi=csi,
        snr_db=snr,
        cbr=0.25,
        seed=0,
        mcs=mcs,
    )


def test_each_image_gets_the_fixed_mcs_outcome_of_its_chosen_mcs(tmp_path):
    ctx = toy_context(n=20, data_dir=tmp_path)
    mcs_set = [2, 10, 16]
    amc = get_system("hevc+ldpc-amc", mcs_set=mcs_set)
    out = amc.evaluate(_cell(9.0), ctx)
    used = out.extras["mcs_used"].astype(int)
    assert set(used.tolist()) <= set(mcs_set) and len(set(used.tolist())) >= 2  # block fading: it adapts
    assert np.isfinite(out.extras["snr_eff_db"]).all()
    fixed = get_system("hevc+ldpc")
    for m in set(used.tolist()):
        ref = fixed.evaluate(_cell(9.0, "hevc+ldpc", m), ctx)
        sel = used == m
        np.testing.assert_array_equal(out.retrieved[sel], ref.retrieved[sel])
        for name in ("tb_error", "bits", "info_bits", "qp"):
            np.testing.assert_array_equal(out.extras[name][sel], ref.extras[name][sel])
        assert out.fingerprint == ref.fingerprint


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="bler_target"):
        get_system("hevc+ldpc-amc", bler_target=1.5)
    with pytest.raises(ConfigError, match="unknown option"):
        get_system("hevc+ldpc-amc", mcs=3)
    with pytest.raises(ConfigError, match="no AMC thresholds for BLER target 0.05"):
        get_system("hevc+ldpc-amc", bler_target=0.05)
    with pytest.raises(ConfigError, match=r"no AMC thresholds for MCS \[28\]"):  # 0-27 are calibrated
        get_system("hevc+ldpc-amc", mcs_set=[2, 28])
    with pytest.raises(ConfigError, match="MCS table 2"):
        get_system("hevc+ldpc-amc", mcs_table=2)
    from kbsc.baselines.amc import choose_mcs
    from kbsc.nrlink.amc_calibration import load_thresholds

    with pytest.raises(ConfigError, match="k ≥ 64"):
        choose_mcs(np.ones((1, 32)), 32, [4], load_thresholds())


def test_calibrate_amc_command_writes_a_table_with_provenance(tmp_path, capsys):
    import json

    from kbsc.cli import main
    from kbsc.nrlink.amc_calibration import load_thresholds

    out = tmp_path / "thr.json"
    assert main(["calibrate-amc", "--k", "64", "--mcs", "4", "--n-tb", "20", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (rec,) = doc["thresholds"]
    assert (rec["k"], rec["mcs"], rec["bler_target"], rec["run"]) == (64, 4, 0.1, 0)
    run = doc["runs"][0]
    assert run["tbs_per_point"] == 20 and run["channel"] == "awgn" and "calibrate-amc" in run["command"]
    # the crossing lies inside the measured points: above target below it, at or below target above it
    below = [e / n for s, e, n in rec["points"] if s < rec["snr_db"]]
    above = [e / n for s, e, n in rec["points"] if s > rec["snr_db"]]
    assert below and above and max(above) <= 0.1 < below[-1]
    assert load_thresholds(out).threshold(64, 4) == rec["snr_db"]


def test_calibrate_amc_needs_out_when_installed(tmp_path, monkeypatch, capsys):
    """Outside a source checkout (kbsc installed) the package's threshold table is not rewritten: the command
    refuses in one line before measuring, naming --out; in a checkout the default stays the package's file."""
    from kbsc.cli import baselines, main
    from kbsc.nrlink import amc_calibration

    fake = tmp_path / "site-packages" / "kbsc" / "nrlink" / "amc_thresholds.json"
    fake.parent.mkdir(parents=True)
    fake.write_text(amc_calibration.THRESHOLDS_FILE.read_text())
    monkeypatch.setattr(amc_calibration, "THRESHOLDS_FILE", fake)
    before = fake.read_bytes()
    assert main(["calibrate-amc", "--k", "64", "--mcs", "4", "--n-tb", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]
    assert fake.read_bytes() == before
    monkeypatch.undo()
    assert baselines._in_source_checkout(amc_calibration.THRESHOLDS_FILE)  # the tests run from a checkout
    assert not baselines._in_source_checkout(fake)
