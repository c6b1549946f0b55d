"""Shared helpers: registry lookups, atomic writes, manifests."""

import pytest

from kbsc.errors import ConfigError, DataError
from kbsc.util import Registry, atomic_write_json, check_manifest, data_dir, read_json, write_manifest


def test_registry_unknown_name_lists_known():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    assert reg.get("a") == 1
    with pytest.raises(ConfigError, match="unknown widget 'b'; choose one of: a"):
        reg.get("b")
    with pytest.raises(ValueError):
        reg.add("a", 2)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "x.json"
    atomic_write_json(p, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": object.__new__(type)})  # not serialisable → writer fails before rename
    assert read_json(p) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def test_manifest_mismatch_is_refused(tmp_path):
    write_manifest(tmp_path, {"extractor": "standin", "seed": 0})
    check_manifest(tmp_path, {"extractor": "standin"}, "knowledge base")
    with pytest.raises(DataError, match="seed: stored 0, expected 1"):
        check_manifest(tmp_path, {"seed": 1}, "knowledge base")


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("KBSC_DATA", str(tmp_path / "env"))
    assert data_dir() == (tmp_path / "env").resolve()
    assert data_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()


def test_cbr_helpers_read_write_and_count_channel_uses():
    from kbsc.experiments import config
    from kbsc.util import cbr_label, cbr_to_k, cbr_value

    assert cbr_value("1/24") == 1 / 24 and cbr_value(" 1/8 ") == 0.125 and cbr_value(0.5) == 0.5
    for bad, msg in (
        (True, "number or a fraction"),
        ("1/0", "number or a fraction"),
        (0, r"\(0, 4\]"),
        (5, "got 5"),
    ):
        with pytest.raises(ValueError, match=msg):
            cbr_value(bad)
    assert [cbr_label(c) for c in (1 / 24, 0.25, 0.3, 2.0, 0.0123)] == ["1/24", "1/4", "3/10", "2", "0.0123"]
    assert cbr_to_k(1 / 24, 3072) == 128 and cbr_to_k(1 / 8, 3072) == 384 and cbr_to_k(1e-5, 3072) == 0
    assert config.cbr_label is cbr_label  # the old home keeps working
