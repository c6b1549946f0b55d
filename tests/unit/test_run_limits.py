"""Limits the README states, enforced before any output is written (issue 27): --out, --workers,
n_images: true, an MCS list on a system without MCS, duplicate YAML keys; a failed run removes only what it
created."""

from __future__ import annotations

import os

import pytest
import yaml

from kbsc.cli import main

BASE = {"n_images": 20, "snr_db": [0], "cbr": ["1/8"], "systems": [{"name": "hevc+ldpc", "mcs": [4]}]}


def _run(tmp_path, capsys, data, out, *extra):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    capsys.readouterr()
    code = main(["run", str(cfg), "--out", str(out), "--data-dir", str(tmp_path / "data"), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err


def _one_line(code, err, *words):
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("kbsc: error: "), err
    assert all(w in err[0] for w in words), err


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_workers_must_be_positive(workers, tmp_path, capsys):
    _one_line(*_run(tmp_path, capsys, BASE, tmp_path / "out", "--workers", workers), "--workers")
    assert not (tmp_path / "out").exists()


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(BASE))
    before = sorted(os.listdir(tmp_path))
    _one_line(*_run(tmp_path, capsys, BASE, "", "--backend", "serial"), "empty")
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("kind", ["file", "dangling link", "under a file", "unwritable"])
def test_bad_out_is_one_line(kind, tmp_path, capsys):
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("mine")
        out = target
    elif kind == "dangling link":
        target.symlink_to(tmp_path / "nowhere")
        out = target
    elif kind == "under a file":
        target.write_text("mine")
        out = target / "run"
    else:
        if os.geteuid() == 0:
            out = "/proc/kbsc-cannot-be-here/run"
        else:
            target.mkdir(mode=0o500)
            out = target / "a" / "run"
    _one_line(
        *_run(tmp_path, capsys, BASE, out), "--out" if kind in ("file", "dangling link") else "cannot create"
    )


def test_failed_run_removes_the_parents_it_created(tmp_path, capsys, monkeypatch):
    import kbsc.experiments.runner as runner

    def boom(*a, **k):
        raise runner.KbscError("stopped on purpose")

    monkeypatch.setattr(runner, "_run_locked", boom)
    (tmp_path / "kept").mkdir()
    _one_line(*_run(tmp_path, capsys, BASE, tmp_path / "kept" / "a" / "b" / "c"), "on purpose")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({**BASE, "n_images": True}, ("n_images", "true/false")),
        ({**BASE, "seeds": [False]}, ("seeds", "true/false")),
        ({**BASE, "systems": [{"name": "kbsc-no-codec", "mcs": [4]}]}, ("kbsc-no-codec", "'mcs'")),
        (
            "n_images: 20\nsnr_db: [0]\ncbr: [1/8]\nsnr_db: [4]\nsystems: [{name: hevc+ldpc}]\n",
            ("duplicate key",),
        ),
    ],
    ids=["n_images true", "seed false", "mcs on kbsc-no-codec", "duplicate key"],
)
def test_stated_limits_are_enforced(data, words, tmp_path, capsys):
    _one_line(*_run(tmp_path, capsys, data, tmp_path / "out"), *words)
    assert not (tmp_path / "out").exists()


def test_a_worker_bug_is_one_line_with_its_traceback_in_a_file(capsys):
    from types import SimpleNamespace

    from kbsc.errors import KbscError
    from kbsc.experiments.runner import _raise_worker_error

    res = SimpleNamespace(
        error="IndexError: index 5 is out\nTraceback (most recent call last):\n  File x\nIndexError: 5",
        user_error=None,
    )
    with pytest.raises(KbscError) as err:
        _raise_worker_error(res, lambda head: f"cell failed: {head}")
    assert capsys.readouterr().err == ""  # nothing printed here; the CLI prints the one line
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("cell failed: IndexError") and "traceback in " in msg
    path = msg.rsplit("traceback in ", 1)[1].rstrip("]")
    assert "Traceback (most recent call last)" in open(path).read()
    os.unlink(path)
