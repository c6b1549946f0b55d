"""The device setting (kbsc.util.device) on this machine: parsing, `auto`, the refusal, precedence."""

import pytest
import torch

from kbsc.util import device as dev
from kbsc.util.device import (
    DeviceError,
    apply_cli_device,
    apply_config_device,
    autocast,
    current_device,
    describe_device,
    device_line,
    parse_device_spec,
    resolve_device,
    set_device,
    state_dict_to_cpu,
    using_device,
)

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _fresh_setting(monkeypatch):
    monkeypatch.delenv("KBSC_DEVICE", raising=False)
    monkeypatch.setitem(dev._state, "spec", None)
    monkeypatch.setitem(dev._state, "override", None)


@pytest.mark.parametrize(
    "text,want", [("auto", "auto"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:3", "cuda:3")]
)
def test_parse_accepts_the_four_forms(text, want):
    assert parse_device_spec(text) == want


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "mps", "meta", ""])
def test_parse_refuses_other_forms_in_one_line(text):
    with pytest.raises(DeviceError) as info:
        parse_device_spec(text)
    assert "\n" not in str(info.value) and "auto, cpu, cuda or cuda:N" in str(info.value)


def test_auto_is_cuda_exactly_when_torch_sees_a_gpu():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert current_device().type == want  # no setting at all is auto


@pytest.mark.skipif(not NO_CUDA, reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_is_refused_in_one_line_that_says_what_to_do(spec):
    with pytest.raises(DeviceError) as info:
        resolve_device(spec)
    text = str(info.value)
    assert "\n" not in text and repr(spec) in text and "--device cpu" in text


def test_precedence_flag_then_env_then_config(monkeypatch):
    monkeypatch.setenv("KBSC_DEVICE", "cpu")
    assert dev.device_spec() == "cpu"
    apply_cli_device("auto")  # the flag wins over the environment and is exported to workers
    assert dev.device_spec() == "auto" and dev.os.environ["KBSC_DEVICE"] == "auto"
    # a configuration's device is ignored once the flag or the environment is set
    assert apply_config_device("cpu") == resolve_device("auto")


def test_config_device_applies_without_flag_or_env():
    assert apply_config_device("cpu") == torch.device("cpu")
    assert dev.device_spec() == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without a GPU")
def test_env_cuda_is_refused_by_the_cli_check(monkeypatch):
    monkeypatch.setenv("KBSC_DEVICE", "cuda")
    with pytest.raises(DeviceError):
        apply_cli_device(None)


def test_using_device_overrides_and_restores():
    with using_device("meta") as d:
        assert d.type == "meta" and current_device().type == "meta"
    assert current_device().type in ("cpu", "cuda")


def test_set_device_exports_for_workers(monkeypatch):
    set_device("cpu")
    assert dev.os.environ["KBSC_DEVICE"] == "cpu" and current_device() == torch.device("cpu")


def test_describe_the_cpu():
    info = describe_device(torch.device("cpu"))
    assert info["type"] == "cpu" and info["torch"] == torch.__version__ and info["memory_bytes"] is None
    assert info["deterministic_algorithms"] == torch.are_deterministic_algorithms_enabled()
    line = device_line(info)
    assert line.startswith("cpu ") and torch.__version__ in line and "\n" not in line


def test_state_dict_to_cpu_detaches_nested_tensors():
    w = torch.ones(2, requires_grad=True) * 2
    out = state_dict_to_cpu({"model": {"w": w}, "steps": [torch.zeros(1)], "n": 3})
    assert not out["model"]["w"].requires_grad and out["model"]["w"].device.type == "cpu" and out["n"] == 3


def test_autocast_fp32_is_off_and_fp16_needs_cuda():
    with autocast("cpu", "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(Exception, match="fp16 needs a CUDA device"):
        autocast("cpu", "fp16")
