"""Small consistencies of the command line: suggestions for mistyped names, the data directory's
precedence (XDG), CBR written as a fraction in every printed table, KBSC_QUIET reaching Ray."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from kbsc.cli import main
from kbsc.errors import ConfigError
from kbsc.util import Registry
from kbsc.util.paths import data_dir


def test_mistyped_names_get_a_suggestion():
    from kbsc.bridge.channels import CHANNELS
    from kbsc.data.registry import get_dataset
    from kbsc.systems.base import get_system

    with pytest.raises(ConfigError, match=r"unknown system 'hevc\+lpdc' \(did you mean 'hevc\+ldpc'"):
        get_system("hevc+lpdc")
    with pytest.raises(ConfigError, match=r"unknown dataset 'cifar10' \(did you mean 'cifar100'\?\)"):
        get_dataset("cifar10", Path("."))
    with pytest.raises(ConfigError, match=r"\(did you mean 'rayleigh' or 'authors-rayleigh'\?\)"):
        CHANNELS.get("raleigh")
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    with pytest.raises(ConfigError) as err:  # nothing close: no suggestion, only the list
        reg.get("zzz")
    assert "did you mean" not in str(err.value) and "choose one of: alpha" in str(err.value)


def test_data_dir_follows_kbsc_data_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KBSC_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == (tmp_path / "env").resolve()
    monkeypatch.delenv("KBSC_DATA")
    assert data_dir() == (tmp_path / "xdg" / "kbsc").resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec: ignored
    assert data_dir() == (tmp_path / "home" / ".cache" / "kbsc").resolve()
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_dir() == (tmp_path / "home" / ".cache" / "kbsc").resolve()
    assert data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()


def test_compare_prints_cbr_as_the_fraction_plot_uses(tmp_path, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "plugins: [test_experiments_toysys]\ndataset: {name: toy}\nextractor: {name: none}\nn_images: 40\n"
        "snr_db: [0]\ncbr: [1/24, 1/4]\nsystems: [{name: toy-analog}, {name: toy-analog-2}]\n"
    )
    out = tmp_path / "run"
    argv = [
        "run",
        str(cfg),
        "--out",
        str(out),
        "--backend",
        "serial",
        "--allow-code",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", str(out), "toy-analog", "toy-analog-2"]) == 0
    printed = capsys.readouterr().out
    assert "1/24" in printed and "1/4" in printed
    assert "0.041667" not in printed and "0.25" not in printed


def test_quiet_mutes_ray(monkeypatch):
    import logging

    from kbsc.experiments.backends import RayBackend

    calls: dict = {}
    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False
    fake.init = lambda **kw: calls.update(kw)
    fake.put = lambda obj: obj
    fake.remote = lambda **_: lambda cls: types.SimpleNamespace(remote=lambda *a, **k: object())
    fake_util = types.ModuleType("ray.util")
    fake_util.ActorPool = lambda actors: list(actors)
    fake.util = fake_util
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.util", fake_util)

    monkeypatch.setenv("KBSC_QUIET", "1")
    RayBackend(workers=1)._get_pool(plan=None)
    assert calls["log_to_driver"] is False and calls["logging_level"] == logging.ERROR
    calls.clear()
    monkeypatch.delenv("KBSC_QUIET")
    RayBackend(workers=1)._get_pool(plan=None)
    assert "logging_level" not in calls
