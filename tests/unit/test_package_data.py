"""Where kbsc finds its files: presets and reference models from the package (a checkout links them to
experiments/ and models/), the bench report from the user's project or $KBSC_BENCH, never from the source
file's location."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbsc.errors import ConfigError
from kbsc.experiments.config import load_config, preset_dir, preset_names, resolve_config_path
from kbsc.tools.estimate import BENCH_ENV, default_bench_path
from kbsc.training import reference

ROOT = Path(__file__).resolve().parents[2]


def test_presets_resolve_from_any_directory_and_a_project_preset_comes_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"quick", "paper"} <= set(preset_names())
    assert resolve_config_path("quick") == preset_dir() / "quick.yaml"
    assert load_config("quick").name == "quick"
    (tmp_path / "experiments").mkdir()
    own = tmp_path / "experiments" / "quick.yaml"
    own.write_text("name: mine\nsnr_db: [0]\ncbr: [1/8]\nsystems: [{name: kbsc-no-codec}]\n")
    assert resolve_config_path("quick").resolve() == own.resolve()
    assert load_config("quick").name == "mine"
    with pytest.raises(ConfigError, match="quick, "):
        resolve_config_path("no-such-preset")


def test_checkout_presets_are_the_experiments_folder():
    if not (ROOT / "experiments").is_dir():
        pytest.skip("not a source checkout")
    for name in preset_names():
        assert (preset_dir() / f"{name}.yaml").read_bytes() == (
            ROOT / "experiments" / f"{name}.yaml"
        ).read_bytes()


def test_reference_store_is_the_shipped_folder_unless_the_environment_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv(reference.ENV, raising=False)
    shipped = reference.shipped_store()
    if not shipped.is_dir():
        pytest.skip("no reference models in this installation")
    assert reference.store_root() == shipped
    assert any(shipped.glob("*/*/manifest.json"))
    monkeypatch.setenv(reference.ENV, str(tmp_path / "store"))
    assert reference.store_root() is None  # not made on a read
    assert reference.store_root(create=True) == tmp_path / "store" and (tmp_path / "store").is_dir()
    monkeypatch.setenv(reference.ENV, "")
    assert reference.store_root() is None and reference.store_root(create=True) is None


def test_a_build_writes_into_a_checkouts_models_folder_only(monkeypatch):
    monkeypatch.delenv(reference.ENV, raising=False)
    shipped = reference.shipped_store()
    root = reference.store_root(create=True)
    if shipped.is_symlink():  # a checkout: the package's folder links to models/
        assert root == shipped.resolve()
    else:  # an installed package is never written into
        assert root is None


def test_bench_report_comes_from_the_project_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(BENCH_ENV, raising=False)
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert default_bench_path(deep) == deep / "results" / "bench.json"  # none yet: where one would go
    (project / "results").mkdir()
    (project / "results" / "bench.json").write_text("{}")
    assert default_bench_path(deep) == project / "results" / "bench.json"
    monkeypatch.chdir(deep)
    assert default_bench_path().resolve() == (project / "results" / "bench.json").resolve()
    monkeypatch.setenv(BENCH_ENV, str(tmp_path / "mine.json"))
    assert default_bench_path(deep) == tmp_path / "mine.json"
