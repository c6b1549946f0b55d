"""Start-up stays cheap: the parser, ``--help`` and ``--version`` import no heavy library, and the packages'
lazy re-exports (PEP 562) still give the same objects as the modules that define them."""

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kbsc

HEAVY = ("torch", "numpy", "scipy", "pandas", "matplotlib", "faiss", "sionna", "tensorflow", "ray", "tqdm")
PACKAGES = ("kbsc.util", "kbsc.data", "kbsc.bridge", "kbsc.baselines", "kbsc.semantic", "kbsc.jscc",
            "kbsc.training", "kbsc.experiments")  # fmt: skip


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter with this checkout's sources first on the path; its stdout."""
    src = str(Path(kbsc.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _heavy_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    return json.loads(_fresh_python(probe).strip().splitlines()[-1])


def test_building_the_parser_imports_no_heavy_library():
    assert _heavy_after("import kbsc.cli\nkbsc.cli.build_parser()") == []


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["run", "--help"], ["prepare", "--help"], ["models", "list"]]
)
def test_help_and_version_import_no_heavy_library(argv):
    code = f"import kbsc.cli\ntry:\n    kbsc.cli.main({argv!r})\nexcept SystemExit:\n    pass"
    assert _heavy_after(code) == []


def test_lazy_reexports_are_the_defining_modules_objects():
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        assert pkg.__all__, name
        for attr in pkg.__all__:
            value = getattr(pkg, attr)
            assert attr in dir(pkg)
            owner = value.__module__ if inspect.isclass(value) or inspect.isfunction(value) else ""
            if owner.startswith("kbsc."):  # classes and functions: the very object of their module
                assert (
                    getattr(importlib.import_module(owner), getattr(value, "__name__", attr), None) is value
                )
        with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
            pkg.no_such_name  # noqa: B018


def test_registries_are_complete_however_they_are_reached():
    # Importing only a registry module (not the package that used to register everything) sees all entries.
    code = (
        "from kbsc.data.registry import DATASETS\nfrom kbsc.semantic.codec import CODECS\n"
        "from kbsc.jscc.registry import MODELS\nimport json\n"
        "print(json.dumps([DATASETS.names(), CODECS.names(), MODELS.names()]))"
    )
    datasets, codecs, models = json.loads(_fresh_python(code).strip().splitlines()[-1])
    assert {"synthetic100", "cifar100", "folder"} <= set(datasets)
    assert {"kbsc", "kbsc-snr", "kbsc-no-codec"} <= set(codecs)
    assert {"deepjscc", "swinjscc"} <= set(models)
