"""``kbsc train`` / ``kbsc evaluate`` configuration errors: one line, exit code 2, before any data work."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbsc.cli import main
from kbsc.cli.semantic import load_yaml, parse_cbr
from kbsc.errors import ConfigError
from kbsc.systems.base import get_system


def _run(capsys: pytest.CaptureFixture, tmp_path: Path, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_unknown_yaml_key_is_one_line(command: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("variant: kbsc\ncbr: [1/24]\nlearning_rate: 0.1\n")
    code, err = _run(capsys, tmp_path, command, "--config", str(cfg))
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown key 'learning_rate'" in err and "allowed:" in err
    assert not (tmp_path / "data" / "kb").exists()  # failed before preparing anything


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("cbr: [1/0]\n", "CBR"),
        ("max_steps: many\n", "'max_steps' must be int"),
        ("- a\n- b\n", "mapping"),
        ("seed: [1, 2]\n", "one value"),
        ("cbr: [1/24\n", "not valid YAML"),
    ],
)
def test_bad_yaml_values(text: str, msg: str, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        s = load_yaml(str(cfg))
        [parse_cbr(c) for c in s.get("cbr", [])]


def test_yaml_values_are_read(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("variant: [kbsc, kbsc-snr]\ncbr: ['1/48', 0.5]\nmax_steps: 3\nsnr: 4\n")
    s = load_yaml(str(cfg))
    assert s == {"variant": ["kbsc", "kbsc-snr"], "cbr": ["1/48", "0.5"], "max_steps": 3, "snr": [4.0]}
    assert parse_cbr("1/48") == pytest.approx(1 / 48)


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["--variant", "hevc+ldpc"], "'hevc+ldpc'"),
        (["--variant", "nope"], "unknown system"),
        (["--setting", "fast"], "unknown training setting"),
        (["--cbr", "0"], "CBR must be in"),
        (["--power-norm", "frame"], "power_norm"),
    ],
)
def test_bad_flags(argv: list[str], msg: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = _run(capsys, tmp_path, "train", *argv)
    assert code == 2 and msg in err and len(err.splitlines()) == 1, err


def test_unknown_system_option() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        get_system("kbsc", learning_rate=0.1)
