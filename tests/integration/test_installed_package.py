"""kbsc as an installed package, not a checkout: the wheel carries the presets, the AMC thresholds and the
reference models, and an installed kbsc runs a quick-preset slice from an empty directory with the shipped
models, training nothing.

The wheel's contents are checked in every run (a build takes seconds). Installing it and running the slice
takes minutes (dataset generation and feature extraction of 60,000 images), so that test is opt-in:
``KBSC_TEST_INSTALL=1`` or ``make test-install``.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pip(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # pip must not see a source tree's kbsc
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    # built from a copy, so that the build leaves nothing (build/, *.egg-info) in the checkout and no stale
    # build/ folder of the checkout leaks into the wheel; the links presets/ and reference_models/ stay links
    tree = tmp_path_factory.mktemp("tree") / "kbsc"
    skip = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", "results"
    )
    shutil.copytree(ROOT, tree, symlinks=True, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    done = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(tree))
    if done.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1:]}")
    return next(out.glob("kbsc-*.whl"))


def test_wheel_ships_presets_thresholds_and_reference_models(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = {Path(n).stem for n in names if n.startswith("kbsc/presets/") and n.endswith(".yaml")}
    assert presets == {p.stem for p in (ROOT / "experiments").glob("*.yaml")}
    assert any(n.endswith("/amc_thresholds.json") for n in names)
    for folder in (ROOT / "models").glob("*/*"):
        if (folder / "manifest.json").is_file():
            rel = folder.relative_to(ROOT / "models").as_posix()
            shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith(f"kbsc/reference_models/{rel}/")}
            expected = {p.name for p in folder.iterdir() if p.suffix in (".pt", ".json")}
            assert shipped == expected, (
                f"{rel}: the wheel has {sorted(shipped)}, models/ has {sorted(expected)}"
            )


@pytest.mark.install
@pytest.mark.skipif(os.environ.get("KBSC_TEST_INSTALL") != "1", reason="opt-in: KBSC_TEST_INSTALL=1")
def test_installed_wheel_runs_a_quick_slice_from_an_empty_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # the dependencies (torch, sionna, ...) come from this interpreter's site-packages, kbsc only from the
    # wheel: a path line in a .pth does not process that folder's own .pth files (an editable kbsc's)
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "zz_shared_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    done = _pip(
        "--python", str(py), "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)
    )
    assert done.returncode == 0, done.stderr

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KBSC_MODELS", "KBSC_BENCH")}
    env.update(KBSC_DATA=str(tmp_path / "data"), KBSC_QUIET="1")

    def kbsc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "kbsc"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )

    where = subprocess.run(
        [str(py), "-c", "import kbsc; print(kbsc.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(venv)), f"kbsc imported from {where.stdout!r}: {where.stderr[-2000:]}"

    listed = kbsc("models", "list")
    assert (
        listed.returncode == 0
        and "standin-" in listed.stdout
        and "deepjscc-adaptive-k384-awgn" in listed.stdout
    )

    jscc = "{train_csi: perfect, setting: reference, model_options: {linear_path: true}}"
    run = kbsc(
        "run", "quick", "--out", "runs/slice",
        "--set", "n_images=50", "--set", "snr_db=[10]", "--set", "cbr=[1/8]", "--set", "channels=[awgn]",
        "--set", f"systems=[{{name: kbsc-no-codec}}, {{name: deepjscc-adaptive, options: {jscc}}}]",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]

    import pandas as pd

    results = pd.read_csv(work / "runs" / "slice" / "results.csv")
    assert sorted(results["system"]) == ["deepjscc-adaptive", "kbsc-no-codec"]
    assert (results["n_images"] == 50).all()
    model = results.loc[results["system"] == "deepjscc-adaptive", "model"].item()
    assert (ROOT / "models" / "jscc" / model / "manifest.json").is_file(), f"{model} is not a shipped model"
    # nothing was trained: no stand-in weights and no JSCC model in the data directory
    data = tmp_path / "data"
    assert not list((data / "extractors").glob("*/weights.pt"))
    assert not (data / "jscc").exists()
    assert (data / "kb").is_dir()  # the knowledge base was built from the shipped stand-in's features
