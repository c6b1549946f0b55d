"""`kbsc models list` / `verify` on a store with hand-broken manifests: one line per model, no traceback."""

from __future__ import annotations

import json

import pytest

from kbsc.cli import main

BROKEN = {
    "a-list": [1, 2, 3],
    "files-string": {"kind": "kbsc-codec", "complete": True, "reference": {"files": "x"}},
    "reference-string": {"kind": "kbsc-codec", "reference": "x", "training": "y", "config": 3},
    "bad-bytes": {"kind": "kbsc-codec", "reference": {"files": {"model.pt": {"bytes": "many"}}}},
    "not-json": None,
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "models"
    for name, manifest in BROKEN.items():
        folder = root / "kbsc" / name
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"weights")
        text = "{not json" if manifest is None else json.dumps(manifest)
        (folder / "manifest.json").write_text(text)
    monkeypatch.setenv("KBSC_MODELS", str(root))
    return root


def test_list_shows_each_broken_model_as_a_mismatch(store, capsys):
    assert main(["models", "list"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    rows = [line for line in out.splitlines() if line.startswith("kbsc/")]
    assert len(rows) == len(BROKEN) and all(r.rstrip().endswith("MISMATCH") for r in rows), out


def test_verify_names_each_problem_in_one_line(store, capsys):
    assert main(["models", "verify"]) == 1
    out, err = capsys.readouterr()
    assert err == "" and "Traceback" not in out
    lines = out.strip().splitlines()
    assert len(lines) == len(BROKEN) and all(line.startswith("reference model kbsc/") for line in lines)
