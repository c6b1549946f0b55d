"""The device setting on the command line: every torch command takes --device, an absent GPU is refused in
one line before anything is written, `kbsc info` names the device, and `device:` is not the experiment."""

import pytest
import torch

from kbsc.cli import main
from kbsc.experiments.config import config_hash, load_config
from kbsc.util import device as dev

NO_CUDA = not torch.cuda.is_available()
TORCH_COMMANDS = [
    ["run", "quick", "--out", "{out}"],
    ["demo", "--out", "{out}"],
    ["prepare"],
    ["train"],
    ["evaluate"],
    ["jscc", "train"],
    ["jscc", "eval"],
    ["models", "build"],
    ["bench", "--json", "{out}/bench.json"],
    ["info"],
]


@pytest.fixture(autouse=True)
def _fresh_setting(monkeypatch):
    monkeypatch.delenv("KBSC_DEVICE", raising=False)
    monkeypatch.setitem(dev._state, "spec", None)
    monkeypatch.setitem(dev._state, "override", None)


@pytest.mark.skipif(not NO_CUDA, reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("argv", TORCH_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_torch_command_refuses_cuda_before_writing(argv, kbsc_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([a.format(out=out) for a in argv] + ["--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "'cuda'" in err and "--device cpu" in err
    assert not out.exists() and not kbsc_data.exists()


@pytest.mark.skipif(not NO_CUDA, reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("how", ["env", "yaml"])
def test_env_and_yaml_cuda_are_refused_before_writing(how, kbsc_data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["run", "quick", "--out", str(out)]
    if how == "env":
        monkeypatch.setenv("KBSC_DEVICE", "cuda")
    else:
        argv += ["--set", "device=cuda"]
    assert main(argv) == 2
    assert "'cuda'" in capsys.readouterr().err and not out.exists()


def test_info_names_the_device(kbsc_data, capsys):
    assert main(["info", "--device", "cpu"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("device cpu ") and torch.__version__ in first


def test_device_is_not_part_of_the_experiment():
    base = load_config("quick", [])
    on_cpu = load_config("quick", ["device=cpu"])
    assert on_cpu.device == "cpu" and base.device is None
    assert config_hash(on_cpu) == config_hash(base) and "device" not in on_cpu.canonical()


def test_precision_is_part_of_the_experiment_only_when_mixed():
    base = load_config("quick", [])
    assert config_hash(load_config("quick", ["precision=fp32"])) == config_hash(base)
    bf16 = load_config("quick", ["precision=bf16"])
    assert bf16.canonical()["precision"] == "bf16" and config_hash(bf16) != config_hash(base)


@pytest.mark.skipif(not NO_CUDA, reason="fp16 needs CUDA")
def test_fp16_without_cuda_is_refused_before_writing(kbsc_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "quick", "--out", str(out), "--set", "precision=fp16"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err and not out.exists()


def test_mixed_precision_names_its_own_caches(monkeypatch):
    from kbsc.features.base import Extractor

    class _E(Extractor):
        name = "e"
        fingerprint = "e-123"

        def extract(self, images, batch_size=256, show_progress=True):
            return images

    e = _E()
    assert e.cache_tag == "e-123"
    e.precision = "bf16"
    assert e.cache_tag == "e-123-bf16"
