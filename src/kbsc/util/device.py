"""The torch device kbsc runs on: one setting, resolved once, described for provenance.

The setting has three equivalent forms, highest precedence first:

1. ``--device`` on a command that runs torch (:func:`kbsc.cli.args.add_device`);
2. ``$KBSC_DEVICE``;
3. ``device:`` in the experiment YAML;

and ``auto`` when none is given. A spec is one of ``auto`` (CUDA when torch sees a GPU, else the CPU),
``cpu``, ``cuda`` (GPU 0) or ``cuda:N``. Asking for CUDA where torch sees none raises :class:`DeviceError`, a
one-line :class:`~kbsc.errors.ConfigError` that names the device and says what to do; the CLI checks it before
anything is written.

:func:`set_device` makes a spec the process's setting *and* exports it as ``$KBSC_DEVICE`` so that grid
workers (subprocesses, Ray tasks started from this process) resolve the same device. Library code asks
:func:`current_device` for the ``torch.device`` to put models and tensors on; tests use :func:`using_device`
(including ``"meta"``, which no user spec accepts, to catch tensors created without the right device).

:func:`describe_device` is the device's provenance record (``kbsc info``, results, bench reports, model
manifests): type, name, memory, torch/CUDA/cuDNN versions and whether deterministic algorithms are on.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from kbsc.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DEVICE_ENV",
    "DEVICE_HELP",
    "PRECISIONS",
    "DeviceError",
    "apply_cli_device",
    "apply_config_device",
    "PRECISION_ENV",
    "autocast",
    "check_precision",
    "inference_precision",
    "set_precision",
    "current_device",
    "describe_device",
    "device_line",
    "device_spec",
    "module_device",
    "parse_device_spec",
    "resolve_device",
    "set_device",
    "state_dict_to_cpu",
    "using_device",
]

DEVICE_ENV = "KBSC_DEVICE"
DEVICE_HELP = (
    "torch device: auto (CUDA when torch sees a GPU, else the CPU), cpu, cuda or cuda:N "
    f"(default: ${DEVICE_ENV}, else the experiment's `device:`, else auto)"
)
_SPEC = re.compile(r"^(auto|cpu|cuda(?::\d+)?)$")
#: autocast precisions for inference (extractor, JSCC): ``fp32`` is autocast off
PRECISIONS = ("fp32", "fp16", "bf16")
PRECISION_ENV = "KBSC_PRECISION"

_state: dict[str, Any] = {"spec": None, "override": None}


class DeviceError(ConfigError):
    """A device that is malformed or not present (e.g. ``cuda`` on a machine without a CUDA GPU)."""


def parse_device_spec(spec: Any) -> str:
    """A device spec, normalised (``"CUDA:0 "`` → ``"cuda:0"``); else a one-line :class:`DeviceError`."""
    text = str(spec).strip().lower()
    if not _SPEC.match(text):
        raise DeviceError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    return text


def device_spec() -> str:
    """The process's device spec: :func:`set_device`'s, else ``$KBSC_DEVICE``, else ``auto``."""
    if _state["spec"] is not None:
        return _state["spec"]
    env = os.environ.get(DEVICE_ENV, "").strip()
    return parse_device_spec(env) if env else "auto"


def _cuda_absent_reason() -> str:
    import torch

    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU or driver"


def resolve_device(spec: Any = None) -> torch.device:
    """``spec`` (default :func:`device_spec`) → a present ``torch.device``; refuses an absent GPU.

    ``auto`` is ``cuda`` (GPU 0) when ``torch.cuda.is_available()``, else ``cpu``. ``cuda``/``cuda:N`` on a
    machine where torch sees no such GPU raise :class:`DeviceError` in one line.
    """
    import torch

    text = device_spec() if spec is None else parse_device_spec(spec)
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    index = int(text.split(":", 1)[1]) if ":" in text else 0
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {text!r} asked for, but {_cuda_absent_reason()}; use --device cpu (or auto), "
            f"or install a CUDA build of torch (docs/gpu.md)"
        )
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(
            f"device {text!r} asked for, but torch sees {count} GPU(s) (cuda:0..cuda:{count - 1}); "
            "pick one of those or use --device auto"
        )
    return torch.device("cuda", index)


def set_device(spec: Any) -> torch.device:
    """Check ``spec`` (refusing an absent GPU), make it the process's setting and export ``$KBSC_DEVICE``."""
    text = parse_device_spec(spec)
    device = resolve_device(text)
    _state["spec"] = text
    os.environ[DEVICE_ENV] = text
    if device.type == "cuda":  # deterministic cuBLAS (the stand-in trains with deterministic algorithms on)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return device


def apply_cli_device(flag: Any) -> None:
    """The CLI's check: ``--device`` (else a set ``$KBSC_DEVICE``) becomes the process's setting, refused in
    one line if absent. With neither, nothing is set, so an experiment's ``device:`` can still apply
    (:func:`apply_config_device`)."""
    if flag is not None:
        set_device(flag)
    elif os.environ.get(DEVICE_ENV, "").strip():
        set_device(os.environ[DEVICE_ENV])


def apply_config_device(spec: Any) -> torch.device:
    """An experiment's ``device:`` (None: ``auto``), used only when neither ``--device`` nor
    ``$KBSC_DEVICE`` is set; returns the device the run uses. Call it before the run writes anything."""
    if _state["spec"] is None and not os.environ.get(DEVICE_ENV, "").strip() and spec is not None:
        return set_device(spec)
    return resolve_device(None)


def current_device() -> torch.device:
    """The ``torch.device`` library code puts models and tensors on (:func:`using_device` overrides it)."""
    if _state["override"] is not None:
        return _state["override"]
    return resolve_device(None)


@contextmanager
def using_device(device: Any) -> Iterator[torch.device]:
    """Inside the block :func:`current_device` is ``device`` (any torch device, ``"meta"`` included).

    For tests and for code that owns a device for a while; nothing is exported to subprocesses.
    """
    import torch

    dev = device if isinstance(device, torch.device) else torch.device(str(device))
    if dev.type == "cuda":
        dev = resolve_device(str(dev) if dev.index is not None else "cuda")
    old = _state["override"]
    _state["override"] = dev
    try:
        yield dev
    finally:
        _state["override"] = old


def module_device(module: Any, default: Any = None) -> torch.device:
    """The device of a module's first parameter (else buffer); ``default`` (else the CPU) for a module with
    neither (a fixed, weight-free codec runs where its inputs are)."""
    import torch

    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu") if default is None else torch.device(default)


def state_dict_to_cpu(state: Any) -> Any:
    """A (nested) state dict with every tensor detached and moved to the CPU, for device-free checkpoints."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu")
    if isinstance(state, dict):
        return type(state)((k, state_dict_to_cpu(v)) for k, v in state.items())
    if isinstance(state, list | tuple):
        return type(state)(state_dict_to_cpu(v) for v in state)
    return state


def autocast(device: Any, precision: str = "fp32") -> Any:
    """A context for mixed-precision *inference* on ``device``: ``fp32`` is no autocast (the default).

    ``fp16`` needs CUDA (on the CPU it is refused in one line); ``bf16`` works on both.
    """
    import torch

    precision = check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    dev = device if isinstance(device, torch.device) else torch.device(str(device))
    if precision == "fp16" and dev.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 on the CPU or fp32")
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=dev.type, dtype=dtype)


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a one-line :class:`ConfigError`."""
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return text


def inference_precision() -> str:
    """The autocast precision of extractor and JSCC inference: ``$KBSC_PRECISION``, else ``fp32`` (off).

    An experiment's ``precision:`` sets it for its run (:func:`set_precision`; it is then part of the
    experiment's identity, since it changes results). Training always runs in fp32."""
    return check_precision(os.environ.get(PRECISION_ENV, "").strip() or "fp32")


def set_precision(precision: Any) -> str:
    """Make ``precision`` the process's inference precision, exported to grid workers."""
    text = check_precision(precision)
    os.environ[PRECISION_ENV] = text
    return text


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def describe_device(device: Any = None) -> dict[str, Any]:
    """The provenance record of ``device`` (default :func:`current_device`).

    Keys: ``type`` (cpu/cuda), ``index``, ``name`` (GPU or CPU model), ``memory_bytes`` (GPU total memory;
    None on the CPU), ``capability`` (CUDA compute capability), ``threads`` (torch intra-op threads),
    ``torch``, ``cuda`` (the CUDA version torch was built with; None for a CPU build), ``cudnn``,
    ``deterministic_algorithms`` (``torch.are_deterministic_algorithms_enabled()``), ``spec`` (the setting).
    """
    import torch

    dev = current_device() if device is None else device
    dev = dev if isinstance(dev, torch.device) else torch.device(str(dev))
    info: dict[str, Any] = {
        "type": dev.type,
        "index": dev.index,
        "name": _cpu_name(),
        "memory_bytes": None,
        "capability": None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None,
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "spec": device_spec(),
    }
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(
            index=index,
            name=props.name,
            memory_bytes=int(props.total_memory),
            capability=f"{props.major}.{props.minor}",
        )
        if torch.backends.cudnn.is_available():
            info["cudnn"] = torch.backends.cudnn.version()
    return info


def device_line(info: dict[str, Any]) -> str:
    """One line for ``kbsc info`` from :func:`describe_device`'s record."""
    cuda = f"CUDA {info['cuda']}" if info.get("cuda") else "CPU-only build"
    if info["type"] == "cuda":
        mem = info.get("memory_bytes") or 0
        where = f"cuda:{info['index']} {info['name']} ({mem / 2**30:.1f} GiB, sm {info.get('capability')})"
    else:
        where = f"cpu {info['name']} ({info.get('threads')} torch threads)"
    det = ", deterministic algorithms on" if info.get("deterministic_algorithms") else ""
    return f"{where}; torch {info['torch']}, {cuda}{det} [setting: {info.get('spec', 'auto')}]"
