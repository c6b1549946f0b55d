"""Bad configs fail before a run starts: exit code 2, one ``kbsc: error:`` line, nothing left in ``--out``.
And a config that imports code runs only with ``--allow-code`` (docs/design.md §7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kbsc.cli import main
from kbsc.errors import ConfigError
from kbsc.experiments.config import code_modules, parse_config
from kbsc.experiments.runner import run_experiment

BASE = {
    "n_images": 20,
    "snr_db": [0],
    "cbr": ["1/8"],
    "systems": [{"name": "hevc+ldpc", "mcs": [4]}],
}


def _with(**changes):
    return {**BASE, **changes}


def _hevc(**options):
    return {"systems": [{"name": "hevc+ldpc", "options": options}]}


BAD_CONFIGS = {
    "grid value": _with(grid={"num_subcarriers": -3}),
    "grid pilot outside the slot": _with(grid={"pilot_ofdm_symbols": [20]}),
    "grid unknown key": _with(grid={"subcarriers": 72}),
    "MCS 30": _with(systems=[{"name": "hevc+ldpc", "mcs": [30]}]),
    "MCS option 29": _with(**_hevc(mcs=29)),
    "mcs_set out of table 2": _with(
        systems=[{"name": "hevc+ldpc-best", "options": {"mcs_table": 2, "mcs_set": [0, 28]}}]
    ),
    "empty mcs_set": _with(systems=[{"name": "hevc+ldpc-best", "options": {"mcs_set": []}}]),
    "mcs_table 3": _with(**_hevc(mcs_table=3)),
    "unknown codec": _with(**_hevc(codec="webp")),
    "bad codec option": _with(**_hevc(codec="jpeg", codec_options={"colour": 1})),
    "unknown failure mode": _with(**_hevc(failure="drop")),
    "unknown LDPC decoder": _with(**_hevc(decoder="belief")),
    "num_iter 0": _with(**_hevc(num_iter=0)),
    "unknown option": _with(**_hevc(qp=30)),
    "unknown system": _with(systems=[{"name": "hevc+turbo"}]),
    "unknown kbsc option": _with(systems=[{"name": "kbsc", "options": {"lr_max": 1}}]),
    "unknown kbsc setting": _with(systems=[{"name": "kbsc", "options": {"setting": "fast"}}]),
    "kbsc lr of the wrong type": _with(systems=[{"name": "kbsc-snr", "options": {"lr": "high"}}]),
    "kbsc negative train_pool": _with(systems=[{"name": "kbsc", "options": {"train_pool": -1}}]),
    "unknown training setting": _with(training={"setting": "fast"}, systems=[{"name": "kbsc"}]),
    "unknown training setting for jscc": _with(training={"setting": "slow"}, systems=[{"name": "deepjscc"}]),
    "deepjscc unknown loss": _with(systems=[{"name": "deepjscc", "options": {"loss": "ssim2"}}]),
    "swinjscc bad cbr_range": _with(systems=[{"name": "swinjscc", "options": {"cbr_range": [0.5]}}]),
    "deepjscc steps of the wrong type": _with(systems=[{"name": "deepjscc", "options": {"steps": "many"}}]),
    "plugin system without module": _with(systems=[{"name": "plugin", "options": {}}]),
    "unknown key": _with(snr_dB=[0]),
    "empty snr list": _with(snr_db=[]),
    "cbr 1/0": _with(cbr=["1/0"]),
    "cbr above 4": _with(cbr=[5]),
    "n_images 0": _with(n_images=0),
    "unknown channel": _with(channels=["rician"]),
    "unknown csi": _with(csi=["genie"]),
    "unknown dataset": _with(dataset={"name": "imagenet"}),
    "unknown extractor": _with(extractor={"name": "resnet"}),
    "unknown index": _with(index="lsh"),
    "plugins without --allow-code": _with(plugins=["test_experiments_toysys"]),
    "missing dataset root": _with(dataset={"name": "cifar100", "root": "/nonexistent/cifar-100-python"}),
}
if shutil.which("bpgenc") is None:
    BAD_CONFIGS["bpg absent"] = _with(**_hevc(codec="bpg"))


def _run_cli(tmp_path: Path, capsys, data: object, *extra: str) -> tuple[int, list[str], Path]:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["run", str(cfg), "--out", str(out), "--data-dir", str(tmp_path / "data"), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err, out


def _assert_clean_refusal(code: int, err: list[str], out: Path) -> None:
    assert code == 2
    assert len(err) == 1 and err[0].startswith("kbsc: error: "), err
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_and_leaves_no_files(name, tmp_path, capsys):
    code, err, out = _run_cli(tmp_path, capsys, BAD_CONFIGS[name])
    _assert_clean_refusal(code, err, out)


@pytest.mark.parametrize(
    "text",
    ["snr_db: [0\ncbr: [1/8]\n", "- a list\n- at the top\n", "snr_db: [0]\ncbr: [1/8]\nsystems: []\n"],
    ids=["malformed YAML", "top-level list", "no systems"],
)
def test_malformed_config_file(text, tmp_path, capsys):
    _assert_clean_refusal(*_run_cli(tmp_path, capsys, text))


def test_bad_command_line_values(tmp_path, capsys):
    _assert_clean_refusal(*_run_cli(tmp_path, capsys, BASE, "--backend", "spark"))
    _assert_clean_refusal(*_run_cli(tmp_path, capsys, BASE, "--seeds", "a,b"))
    _assert_clean_refusal(*_run_cli(tmp_path, capsys, BASE, "--set", "systems[0].mcs=[31]"))


def test_existing_results_directory_is_kept_when_a_bad_config_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err, _ = _run_cli(tmp_path, capsys, BAD_CONFIGS["MCS 30"])
    assert code == 2 and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


PLUGIN_FILE = """
from pathlib import Path
Path(__file__).with_suffix(".ran").write_text("imported")


class Model:
    def __init__(self, checkpoint=None):
        pass

    def encode(self, images, snr_db, k):
        raise NotImplementedError

    def decode(self, symbols, noise_var, snr_db):
        raise NotImplementedError
"""


def test_a_config_that_imports_code_needs_the_opt_in(tmp_path, capsys):
    plugin = tmp_path / "evil.py"
    plugin.write_text(PLUGIN_FILE)
    data = _with(systems=[{"name": "plugin", "options": {"module": f"{plugin}:Model"}}])
    code, err, out = _run_cli(tmp_path, capsys, data)
    _assert_clean_refusal(code, err, out)
    assert str(plugin) in err[0] and "--allow-code" in err[0]
    assert not plugin.with_suffix(".ran").exists()  # the file was never imported

    with pytest.raises(ConfigError, match=r"imports or runs code .*allow_code=True"):
        parse_config(data)  # refused before anything is imported
    cfg = parse_config(data, allow_code=True)
    assert code_modules(cfg) == [str(plugin)]
    with pytest.raises(ConfigError, match=r"imports or runs code .*allow_code=True"):
        run_experiment(cfg, tmp_path / "api", data_dir=tmp_path / "data", show_progress=False)
    assert not (tmp_path / "api").exists() and not plugin.with_suffix(".ran").exists()

    both = _with(plugins=["test_experiments_toysys"], systems=data["systems"])
    code, err, _ = _run_cli(tmp_path, capsys, both)
    assert code == 2 and "test_experiments_toysys" in err[0] and str(plugin) in err[0]


def test_kbsc_own_modules_are_not_outside_code():
    cfg = parse_config(_with(plugins=["kbsc.jscc.toy"]))
    assert code_modules(cfg) == []
