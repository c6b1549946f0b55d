"""Provenance of a run: package versions, Python, platform and the git commit of the source tree."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from kbsc.nrlink.ldpc.registry import DEFAULT_LDPC_DECODER
from kbsc.util.gitstate import git_commit

__all__ = ["device_provenance", "git_commit", "provenance", "provenance_tag"]

PACKAGES = (
    "kbsc",
    "numpy",
    "scipy",
    "torch",
    "sionna-no-rt",
    "faiss-cpu",
    "faiss-gpu-cu12",
    "faiss-gpu",
    "numba",
    "pandas",
    "pyarrow",
    "pillow",
    "pillow-heif",
    "pydantic",
    "ray",
)


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _default_ldpc_decoder() -> str:
    return DEFAULT_LDPC_DECODER


def provenance() -> dict[str, Any]:
    commit = git_commit()
    cpu = None
    if "torch" in sys.modules:  # the kernels torch picked (they change trained weights: README)
        cpu = sys.modules["torch"].backends.cpu.get_cpu_capability()
    return {
        "git_commit": commit,
        "dirty": commit is None or commit.endswith("+dirty"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_cpu_capability": cpu,
        # The LDPC decoder links use unless a system names one (its "decoder" option, recorded with the
        # system's options); the quantized decoder is never the default.
        "ldpc_default_decoder": _default_ldpc_decoder(),
        "packages": {p: _version(p) for p in PACKAGES},
        "device": device_provenance(),
    }


def device_provenance() -> dict[str, Any] | None:
    """The torch device this process computes on (:func:`kbsc.util.device.describe_device`): GPU name,
    memory, torch/CUDA versions and the deterministic-algorithms flag; None when torch is not importable."""
    try:
        from kbsc.util.device import describe_device  # lazy: only this path needs it
    except ImportError:  # pragma: no cover
        return None
    try:
        return describe_device()
    except Exception as exc:  # an unusable setting was refused earlier; record why rather than fail
        return {"error": str(exc)}


def provenance_tag(prov: dict[str, Any]) -> str:
    """The compact ``provenance`` column: ``kbsc=<version>;git=<sha12>[+dirty]``."""
    commit = prov.get("git_commit") or "none"
    short = commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    return f"kbsc={prov['packages'].get('kbsc')};git={short}"
