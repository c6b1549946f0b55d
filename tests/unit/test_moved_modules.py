"""Moved modules: the old paths still import, as the very same module, with a DeprecationWarning; the
package itself no longer uses them."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from kbsc._moved import MOVED, new_name

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old: str) -> None:
    new = importlib.import_module(MOVED[old])
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=re.escape(MOVED[old])):
        aliased = importlib.import_module(old)
    assert aliased is new


def test_submodule_of_a_moved_package() -> None:
    assert new_name("kbsc.baselines.ldpc.kernels") == "kbsc.nrlink.ldpc.kernels"
    assert new_name("kbsc.baselines.ldpc.bench") == "kbsc.tools.ldpc_bench"  # its own entry wins
    assert new_name("kbsc.baselines.system") is None
    sys.modules.pop("kbsc.baselines.ldpc.kernels", None)
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("kbsc.baselines.ldpc.kernels")
    assert old is importlib.import_module("kbsc.nrlink.ldpc.kernels")


def test_package_code_uses_the_new_paths() -> None:
    pattern = re.compile("|".join(r"(?<![\w.])" + re.escape(o) + r"(?![\w])" for o in MOVED))
    offenders = [
        f"{p.relative_to(SRC)}: {m.group(0)}"
        for p in SRC.rglob("*.py")
        if p.name != "_moved.py"
        for m in pattern.finditer(p.read_text())
    ]
    assert offenders == []
