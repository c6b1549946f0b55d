"""Experiment configs: validation errors are one line naming the key; overrides; presets parse."""

from pathlib import Path

import pytest

from kbsc.cli import main
from kbsc.errors import ConfigError
from kbsc.experiments.config import apply_overrides, cbr_label, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
BASE = {"snr_db": [0, 10], "cbr": ["1/24", 0.25], "systems": [{"name": "kbsc"}]}


def _err(data) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, source="c.yaml")
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_valid_config_and_fractions():
    cfg = parse_config(BASE)
    assert cfg.cbr == [pytest.approx(1 / 24), 0.25]
    assert cfg.dataset.name == "synthetic100" and cfg.extractor.name == "standin"
    assert cbr_label(cfg.cbr[0]) == "1/24" and cbr_label(0.25) == "1/4" and cbr_label(0.3) == "3/10"


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        ({"snr_dB": [1]}, "unknown key 'snr_dB'; allowed here: name, plugins, dataset"),
        (
            {"dataset": {"name": "x", "rooot": "/a"}},
            "unknown key 'dataset.rooot'; allowed here: name, root, split_seed",
        ),
        (
            {"systems": [{"name": "kbsc", "mcz": [1]}]},
            "unknown key 'systems[0].mcz'; allowed here: name, label",
        ),
        ({"snr_db": [0, "ten"]}, "key 'snr_db[1]': Input should be a valid number"),
        ({"snr_db": [0, 500]}, "key 'snr_db[1]': Input should be less than or equal to 80"),
        ({"cbr": ["1/0"]}, "key 'cbr[0]': must be a number or a fraction like '1/24'"),
        ({"cbr": [7]}, "key 'cbr[0]': must be in (0, 4], got 7"),
        ({"n_images": 0}, "key 'n_images': Input should be greater than or equal to 1"),
        ({"seeds": []}, "key 'seeds': List should have at least 1 item"),
        ({"systems": [{"name": "kbsc", "mcs": [40]}]}, "key 'systems[0].mcs[0]': Input should be less than"),
        ({"systems": [{"name": "a"}, {"name": "a", "options": {"x": 1}}]}, "system 'a' is listed twice"),
    ],
)
def test_errors_are_one_line_and_name_the_key(change, expect):
    assert expect in _err({**BASE, **change})


def test_unknown_channel_or_csi_names_the_choices(monkeypatch):
    import kbsc.experiments.config as config

    monkeypatch.setattr(config, "_bridge_names", lambda: ({"awgn", "rayleigh"}, {"perfect", "lmmse"}))
    msg = _err({**BASE, "channels": ["awgnn"]})
    assert msg.startswith("c.yaml: unknown channel 'awgnn'; choose from: ") and "cdl-c" in msg
    assert "unknown csi 'ls'; choose from: lmmse, perfect" in _err(
        {**BASE, "systems": [{"name": "kbsc", "csi": ["ls"]}]}
    )


def test_missing_key_and_not_a_mapping():
    assert "key 'systems' is required" in _err({"snr_db": [0], "cbr": [0.1]})
    assert "top level must be a mapping" in _err([1, 2])


def test_overrides():
    data = apply_overrides(
        {**BASE, "systems": [{"name": "hevc+ldpc", "mcs": [1]}]},
        ["snr_db=[-4, 4]", "dataset.root=/data/c100", "systems[0].mcs=[3, 9]", "cbr=[1/8]"],
    )
    cfg = parse_config(data)
    assert cfg.snr_db == [-4.0, 4.0] and cfg.dataset.root == "/data/c100"
    assert cfg.systems[0].mcs == [3, 9] and cfg.cbr == [0.125]
    assert BASE["snr_db"] == [0, 10]  # the input is not modified
    with pytest.raises(ConfigError, match="must look like key=value"):
        apply_overrides(BASE, ["snr_db"])
    with pytest.raises(ConfigError, match="index '4' is not in a list of 1"):
        apply_overrides(BASE, ["systems[4].name=x"])


def test_yaml_errors_and_cli(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("snr_db: [0, 1\ncbr: 0.1\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("snr_db: [0]\ncbr: [0.1]\nsystems: [{name: kbsc}]\nchanels: [awgn]\n")
    code = main(["run", str(wrong), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "unknown key 'chanels'" in err and "channels" in err
    code = main(["run", str(wrong), "--out", str(tmp_path / "out"), "--seeds", "a,b"])
    assert code == 2 and "--seeds 'a,b'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_presets_parse(preset):
    cfg = load_config(REPO / "experiments" / f"{preset}.yaml")
    assert cfg.systems and cfg.snr_db and cfg.cbr


def test_grid_settings_are_checked_against_the_bridge(monkeypatch):
    import kbsc.experiments.config as config

    monkeypatch.setattr(config, "_bridge_grid_fields", lambda: {"num_ofdm_symbols", "num_subcarriers"})
    assert parse_config({**BASE, "grid": {"num_subcarriers": 64}}).grid == {"num_subcarriers": 64}
    msg = _err({**BASE, "grid": {"num_subcarrier": 64}})
    assert (
        "key 'grid': unknown grid setting(s) num_subcarrier; allowed: num_ofdm_symbols, num_subcarriers"
        in msg
    )


def test_no_grid_block_is_kept_apart_from_an_empty_one():
    """``grid: null`` (what ``kbsc baseline``/``evaluate`` run) reaches the systems as None, the trained
    codecs' key of those commands; a config without the key keeps ``{}`` and its hash."""
    import numpy as np

    from kbsc.experiments.grid import context_spec, expand
    from kbsc.semantic.system import KBSCSystem
    from kbsc.systems.base import Cell, EvalContext

    none, empty = parse_config({**BASE, "grid": None}), parse_config(BASE)
    assert empty.grid == {} and none.grid is None
    spec_none, spec_empty = context_spec(none, "/d"), context_spec(empty, "/d")
    assert dict(spec_none.options)["grid"] is None and dict(spec_empty.options)["grid"] == {}
    assert expand(none, spec_none)[0].cell_hash != expand(empty, spec_empty)[0].cell_hash
    cell = Cell("kbsc", "synthetic100", "standin", "awgn", "perfect", 0.0, 1 / 24, 0)
    images = np.zeros((1, 32, 32, 3), np.uint8)
    grids = [
        KBSCSystem()
        .train_config(cell, EvalContext(Path("/d"), images, *[None] * 5, options=dict(s.options)))
        .grid
        for s in (spec_none, spec_empty)
    ]
    assert grids == [None, {}]
