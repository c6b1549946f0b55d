"""Bounded config parsing (docs/design.md §7): alias bombs, deep nesting, bad bytes and duplicate keys are
refused in one line, fast, before anything is written; a fuzz of random bytes and random YAML structures gets
exit 2 and one stderr line every time."""

from __future__ import annotations

import random
import resource
import time

import pytest
import yaml

from kbsc.cli import main
from kbsc.errors import ConfigError
from kbsc.util.safe_yaml import MAX_DEPTH, MAX_NODES, load_yaml

BASE = "n_images: 20\nsnr_db: [0]\ncbr: [1/8]\nsystems: [{name: hevc+ldpc, mcs: [4]}]\n"


def alias_bomb(levels: int = 7) -> str:
    """The issue's 476-byte shape: each level lists the previous one ten times."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "extractor:\n  options:\n" + "\n".join("    " + line for line in lines) + "\n" + BASE


def _cli(tmp_path, capsys, text: str | bytes, *extra: str):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out"
    capsys.readouterr()
    code = main(["run", str(cfg), "--out", str(out), "--data-dir", str(tmp_path / "data"), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, err, out


def _refused(code, err, out, *words: str) -> None:
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("kbsc: error: "), err
    assert all(w in err[0] for w in words), err
    assert not out.exists()


def test_alias_bomb_is_refused_fast_and_small(tmp_path, capsys):
    text = alias_bomb()
    assert len(text) < 700
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    _refused(*_cli(tmp_path, capsys, text), f"{MAX_NODES:,}")
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200 * 1024  # KiB: < 200 MB
    # a modest use of aliases stays allowed
    assert load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


def test_self_referencing_alias(tmp_path, capsys):
    _refused(*_cli(tmp_path, capsys, "x: &a [1, *a]\n" + BASE), "alias")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"\xff\xfe" + BASE.encode(), ("not UTF-8", "0xff")),
        ("[" * 20_000 + "]" * 20_000, (f"deeper than {MAX_DEPTH}",)),
        ("{a: " * 5_000 + "1" + "}" * 5_000, (f"deeper than {MAX_DEPTH}",)),
        (BASE + "n_images: 30\n", ("duplicate key 'n_images'",)),
        ("x: !!python/object/apply:os.system [echo]\n" + BASE, ("not valid YAML",)),
        ("a: b\n\x00\n", ("not valid YAML",)),
        (b"x" * (2 << 20), ("KiB",)),
    ],
    ids=["bad bytes", "20000 nested [", "deep mappings", "duplicate key", "python tag", "NUL", "2 MiB"],
)
def test_bad_config_text_is_one_line(text, words, tmp_path, capsys):
    _refused(*_cli(tmp_path, capsys, text), *words)


def test_deep_override_value(tmp_path, capsys):
    _refused(
        *_cli(tmp_path, capsys, BASE, "--set", "extractor.options.x=" + "[" * 5000 + "]" * 5000), "deeper"
    )


def test_config_path_that_is_a_directory(tmp_path, capsys):
    capsys.readouterr()
    code = main(["run", str(tmp_path), "--out", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and "directory" in err[0], err


# ------------------------------------------------------------------------------------------------ fuzz


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.randint(-(2**70), 2**70)
    if kind == 1:
        return rng.choice([0.5, -1e308, float("inf"), float("nan"), 1e-300])
    if kind == 2:
        return "".join(rng.choice("ab/:.[]{}*&!%@`'\"\\ \t1\u00e9\u2028") for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return rng.choice(["1/0", "1/24", "awgn", "kbsc", "-", "~", "2020-01-01", "0x1f", "<<"])
    if kind == 5:
        return __import__("datetime").date(2020, 1, rng.randint(1, 28))
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "name",
        "options",
        "systems",
        "snr_db",
        "cbr",
        "channels",
        "plugins_",
        "mcs",
        "grid",
        "seeds",
        "x",
    ]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _random_config(rng: random.Random) -> str:
    data = yaml.safe_load(BASE)
    for _ in range(rng.randint(1, 3)):
        node = data
        path = rng.choice(
            [
                ["n_images"], ["snr_db"], ["cbr"], ["systems"], ["systems", 0], ["systems", 0, "options"],
                ["systems", 0, "name"], ["channels"], ["grid"], ["dataset"], ["extractor", "options"],
                ["seeds"], ["training"], ["csi"], ["index"], ["name"],
            ]
        )  # fmt: skip
        for part in path[:-1]:
            if isinstance(node, dict):
                node = node.setdefault(part, {})
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and node):
            node[path[-1]] = _random_value(rng)
    return yaml.safe_dump(data, allow_unicode=rng.random() < 0.5)


def _random_bytes(rng: random.Random) -> bytes:
    base = bytearray(BASE.encode())
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(base))
        if rng.random() < 0.5:
            base[i] = rng.randrange(256)
        else:
            base[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
    return bytes(base)


@pytest.mark.parametrize("seed", range(6))
def test_fuzz_config_loader(seed, tmp_path, capsys):
    """Random structures and random bytes: always exit 2 and one line, nothing written. A config that
    happens to be valid is stopped by the unknown backend, which is checked right after the config."""
    rng = random.Random(seed)
    for i in range(40):
        text: str | bytes = _random_config(rng) if i % 2 else _random_bytes(rng)
        code, err, out = _cli(tmp_path, capsys, text, "--backend", "no-such-backend")
        assert code == 2 and len(err) == 1 and err[0].startswith("kbsc: error: "), (text, err)
        assert not out.exists(), text


def test_load_yaml_raises_config_error_only():
    for text in ("a: [", "? [a]\n: 1\n", "&a a: *a", "!!binary x", "a: !!set {1, 2}"):
        try:
            load_yaml(text)
        except ConfigError:
            pass
