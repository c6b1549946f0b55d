"""The install metadata: the package declares ranges (no exact pins), FAISS comes from exactly one of the
`cpu`/`gpu` extras (both provide the module `faiss`), and the tested set in constraints.txt satisfies every
range that any extra combination declares, so `-c constraints.txt` never conflicts with an extra."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest

packaging = pytest.importorskip("packaging")
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAISS_PROVIDERS = {"faiss-cpu", "faiss-gpu", "faiss-gpu-cu11", "faiss-gpu-cu12", "faiss-cuda"}


@pytest.fixture(scope="module")
def meta():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = [Requirement(r) for r in project["dependencies"]]
    extras = {k: [Requirement(r) for r in v] for k, v in project["optional-dependencies"].items()}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"constraints.txt holds exact pins only: {line}"
            pins[canonicalize_name(req.name)] = spec.version
    return base, extras, pins


def _faiss(reqs):
    return {canonicalize_name(r.name) for r in reqs} & FAISS_PROVIDERS


def test_the_package_declares_ranges_and_no_faiss(meta):
    base, extras, _ = meta
    assert not [str(r) for r in base if any(s.operator in ("==", "===") for s in r.specifier)]
    assert not _faiss(base)
    assert {"cpu", "gpu"} <= set(extras)
    assert {canonicalize_name(r.name) for r in base} >= {"torch", "sionna-no-rt"}


def test_faiss_comes_from_exactly_one_of_cpu_and_gpu(meta):
    _, extras, _ = meta
    assert _faiss(extras["cpu"]) == {"faiss-cpu"}
    assert len(_faiss(extras["gpu"])) == 1 and not _faiss(extras["gpu"]) & {"faiss-cpu"}
    assert not [k for k, v in extras.items() if k not in ("cpu", "gpu") and _faiss(v)]


@pytest.mark.parametrize("combo", [("dev", "cpu"), ("dev", "gpu"), ("gpu",), ("cpu", "clip", "ray")])
def test_extra_combinations_resolve_against_the_tested_set(meta, combo):
    base, extras, pins = meta
    reqs = base + [r for e in combo for r in extras[e]]
    assert len(_faiss(reqs)) == 1, f"{combo} installs {sorted(_faiss(reqs))}"
    by_name: dict[str, list] = {}
    for r in reqs:
        by_name.setdefault(canonicalize_name(r.name), []).append(r)
    for name, rs in by_name.items():
        if name in pins:
            bad = [str(r) for r in rs if not r.specifier.contains(pins[name], prereleases=True)]
            assert not bad, f"constraints.txt pins {name}=={pins[name]}, which {bad} exclude"
        for a, b in itertools.combinations(rs, 2):  # two ranges on one name must overlap somewhere
            lows = [s.version for s in [*a.specifier, *b.specifier] if s.operator in (">=", "==")]
            if lows:
                assert any((a.specifier & b.specifier).contains(v, prereleases=True) for v in lows), (a, b)


def test_make_installs_the_cpu_extra_with_the_constraints():
    make = (ROOT / "Makefile").read_text()
    assert "FAISS  ?= cpu" in make and "-c constraints.txt -e '.[dev,$(FAISS)]'" in make
    assert "gpu-check:" in make


def test_missing_faiss_is_one_line_naming_the_extras(monkeypatch):
    import sys

    from kbsc.errors import MissingDependency
    from kbsc.util.faiss_import import import_faiss

    monkeypatch.setitem(sys.modules, "faiss", None)  # as if no FAISS build were installed
    with pytest.raises(MissingDependency) as info:
        import_faiss()
    assert isinstance(info.value, ImportError) and "kbsc[cpu]" in str(info.value)
    assert "\n" not in str(info.value)
