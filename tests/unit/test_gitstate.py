"""Committed results come from committed code: writing under <repo>/results/ from a dirty tree is refused."""

import pytest

from kbsc.errors import ConfigError
from kbsc.util import gitstate
from kbsc.util.gitstate import guard_results_path


def test_dirty_tree_refused_under_results_only(tmp_path, capsys):
    root = tmp_path / "repo"
    (root / "results" / "quick").mkdir(parents=True)
    inside, outside = root / "results" / "quick", tmp_path / "runs" / "quick"
    with pytest.raises(ConfigError, match="--allow-dirty"):
        guard_results_path([inside], False, root=root, commit="abc+dirty")
    with pytest.raises(ConfigError, match="results/"):
        guard_results_path([None, root / "results" / "bench.json"], False, root=root, commit="abc+dirty")
    assert guard_results_path([outside], False, root=root, commit="abc+dirty") is False
    assert guard_results_path([inside], False, root=root, commit="abc") is False  # clean tree
    assert guard_results_path([inside], True, root=root, commit="abc+dirty") is True
    assert "WARNING" in capsys.readouterr().err


def test_ber_command_refuses_to_write_committed_results_from_a_dirty_tree(tmp_path, monkeypatch, capsys):
    from kbsc.cli import main

    root = tmp_path / "repo"
    (root / "results").mkdir(parents=True)
    monkeypatch.setattr(gitstate, "repo_root", lambda: root)
    monkeypatch.setattr(gitstate, "git_commit", lambda: "abc+dirty")
    target = root / "results" / "ber.json"
    rc = main(["ber", "--snr", "0", "--bits", "1000", "--modulation", "qpsk", "--json", str(target)])
    assert rc != 0 and not target.exists()
    assert "--allow-dirty" in capsys.readouterr().err
    rc = main(
        [
            "ber",
            "--snr",
            "0",
            "--bits",
            "1000",
            "--modulation",
            "qpsk",
            "--json",
            str(target),
            "--allow-dirty",
        ]
    )
    assert rc == 0 and target.exists()


def test_changes_under_results_are_not_dirt(tmp_path):
    """Regenerating one committed result must not mark the next one +dirty; a code change must."""
    import subprocess

    from kbsc.util.gitstate import commit_of

    def git(*args):
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "init")
    assert not commit_of(tmp_path).endswith("+dirty")
    (tmp_path / "results" / "r.json").write_text('{"new": 1}')
    assert not commit_of(tmp_path).endswith("+dirty")
    (tmp_path / "code.py").write_text("x = 2\n")
    assert commit_of(tmp_path).endswith("+dirty")
