"""scripts/gpu_check.py (`make gpu-check`) without a GPU: one line, exit 0; the wheel list it prints; its
wheel-folder route; the quick-preset slice it runs is a valid experiment."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU path")
def test_without_a_gpu_it_prints_one_line_and_exits_0():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no CUDA GPU") and torch.__version__ in lines[0]


def test_wheel_list_names_every_module_kbsc_needs_beyond_the_gpu_machine(capsys):
    mod = _module()
    assert mod.main(["--list-wheels"]) == 0
    out = capsys.readouterr().out
    for dist in ("sionna-no-rt", "faiss-cpu", "pillow-heif", "pydantic", "h5py"):
        assert f"{dist}==" in out
    assert "--wheels" in out and "pip download --no-deps --only-binary=:all:" in out


def test_missing_modules_are_unpacked_from_a_wheel_folder(tmp_path, monkeypatch):
    mod = _module()
    monkeypatch.setattr(mod, "WHEELS", (("kbsc-fake-dep", "kbsc_fake_dep", "1.0"),))
    folder = tmp_path / "wheels"
    folder.mkdir()
    with zipfile.ZipFile(folder / "kbsc_fake_dep-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("kbsc_fake_dep/__init__.py", "VALUE = 7\n")
    assert [d for d, _, _ in mod._missing_modules()] == ["kbsc-fake-dep"]
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert mod.use_wheels(folder, tmp_path / "site") == ["kbsc_fake_dep-1.0-py3-none-any.whl"]
    assert mod._missing_modules() == []
    import kbsc_fake_dep

    assert kbsc_fake_dep.VALUE == 7
    sys.modules.pop("kbsc_fake_dep", None)


def test_the_slice_is_a_valid_quick_preset_experiment():
    from kbsc.experiments.config import validate_config

    cfg = _module()._slice_config()
    names = sorted(s.display for s in cfg.systems)
    assert names == ["deepjscc-adaptive", "hevc+ldpc", "kbsc", "swinjscc"]
    assert cfg.n_images == 200 and cfg.channels == ["awgn"]
    validate_config(cfg)


def _table(acc, psnr_jscc=25.0, psnr_link=30.0, fp="f1"):
    import pandas as pd

    rows = []
    for system, psnr in (("hevc+ldpc", psnr_link), ("deepjscc-adaptive", psnr_jscc), ("kbsc", float("nan"))):
        rows.append(dict(system=system, channel="awgn", csi="perfect", snr_db=10.0, cbr=0.5,
                         mcs=10.0 if system == "hevc+ldpc" else float("nan"), seed=0, acc_top1=acc,
                         acc_top1_lo=acc - 0.05, acc_top1_hi=acc + 0.05, psnr=psnr, ber=0.0, bler=0.0,
                         bits_per_image=1000.0, fingerprint=fp))  # fmt: skip
    return pd.DataFrame(rows)


def test_the_cpu_vs_gpu_tolerance():
    compare = _module().compare_tables
    cpu = _table(0.5)
    assert compare(cpu, _table(0.53, psnr_jscc=25.08))[0]  # top-1 inside the interval, PSNR within 0.1 dB
    assert not compare(cpu, _table(0.56))[0]  # top-1 outside the CPU cell's interval
    assert not compare(cpu, _table(0.5, psnr_jscc=25.2))[0]  # same weights, PSNR off by 0.2 dB
    assert not compare(cpu, _table(0.5, psnr_link=30.001))[0]  # the conventional link must be exact
    assert not compare(cpu, _table(0.5, fp="f2"))[0]  # other realizations
    ok, detail = compare(cpu, _table(0.5))
    assert ok and "3 cells" in detail
