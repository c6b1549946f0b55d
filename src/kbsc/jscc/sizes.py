"""Model sizes of the pixel JSCC systems: ``cpu`` (today's defaults, trained on a few CPU cores) and ``paper``
(the published CIFAR-10 architectures), chosen with ``model_options: {size: paper}``.

``paper`` sizes (32×32 images; our layers, the authors' widths, depths and kernels):

* ``swinjscc`` – SwinJSCC (Yang, Xu, Niu, Tan, Zhang, "SwinJSCC: Taming Swin Transformer for Deep Joint
  Source-Channel Coding", IEEE TCCN 2024, arXiv:2308.09361), the authors' CIFAR-10 configuration
  (github.com/semcomm/SwinJSCC, ``main.py``): patch size 2, embedding dims 128/256, depths 2/4 (decoder 4/2),
  heads 4/8, window 2, MLP ratio 4. Its Swin blocks hold 7,111,888 parameters, exactly as the authors'
  configuration (12·C² + 13·C + (2w−1)²·heads per block); with patch embedding, merging, the heads and our
  modulation modules the model has 7,548,812 at the quick preset's 48 latent channels
  (:func:`parameter_count`; the ``cpu`` default: 204,788).
* ``deepjscc-adaptive`` – ADJSCC (Xu, Ai, Chen, Yang, Sun, Rodrigues, "Wireless Image Transmission Using Deep
  Source Channel Coding With Attention Modules", IEEE TCSVT 32(4), 2022), the authors' CIFAR-10 model
  (github.com/alexxu1988/ADJSCC, ``util_module.py``): 256 filters in every hidden layer, 9×9 kernels in the
  outermost layers and 5×5 elsewhere, GDN/IGDN. The authors' convolutions hold 10,161,683 parameters at 16
  latent channels; ours 10,264,083 (our decoder also reads the equalizer's noise-variance map: +102,400), and
  the whole model 11,320,851 with GDN and our attention modules, which are wider than the authors' (C/2
  hidden units, not C/16); the ``cpu`` default: 176,819.
* ``deepjscc`` – DeepJSCC (Bourtsoulatze, Kurka, Gündüz, "Deep Joint Source-Channel Coding for Wireless Image
  Transmission", IEEE TCCN 5(3), 2019): 16/32/32/32 filters of 5×5 — the ``cpu`` default already is the
  paper's size (156,915 parameters at 16 latent channels); ``paper`` only swaps BatchNorm for the GDN of the
  DeepJSCC line's later models (163,347).

Training a ``paper``-size model is GPU work (hours to days on one GPU in the papers; weeks on 2 CPU cores):
the ``gpu`` training setting of :mod:`kbsc.jscc.train` (batch 128 and Adam at 1e-4 as both papers, the
``plateau`` schedule and convergence rule of the reference setting, a ceiling of 200,000 steps) goes with
it, and training one on the CPU is refused (:func:`check_trainable_here`). A trained one loads and evaluates
anywhere. The ``cpu`` defaults and the committed reference models (``models/``) stay as they are.
"""

from __future__ import annotations

from typing import Any

from kbsc.errors import ConfigError
from kbsc.jscc.registry import MODELS

__all__ = ["SIZES", "check_trainable_here", "is_paper_size", "parameter_count", "size_options"]

#: model → size → constructor options (explicit ``model_options`` win over these)
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "swinjscc": {
        "cpu": {},
        "paper": {"c1": 128, "c2": 256, "depths": [2, 4], "heads": [4, 8], "window": 2, "mlp_ratio": 4.0},
    },
    "deepjscc-adaptive": {
        "cpu": {},
        "paper": {"width": 256, "outer_width": 256, "outer_kernel": 9, "norm": "gdn"},
    },
    "deepjscc": {
        "cpu": {},
        "paper": {"width": 32, "norm": "gdn"},
    },
}


def size_options(model: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with its ``size`` expanded into the size's constructor options (explicit options win);
    unchanged without ``size``. One-line ConfigError for a size the model does not have."""
    if "size" not in options:
        return dict(options)
    size = str(options["size"])
    sizes = SIZES.get(model, {"cpu": {}})
    if size not in sizes:
        raise ConfigError(f"model {model!r} has no size {size!r}; choose one of: {', '.join(sizes)}")
    return {**sizes[size], **options}


def is_paper_size(options: dict[str, Any]) -> bool:
    return str(options.get("size", "cpu")) == "paper"


def check_trainable_here(model: str, options: dict[str, Any], device: Any) -> None:
    """Refuse (one line) to train a ``paper``-size model on a CPU device."""
    if is_paper_size(options) and getattr(device, "type", str(device)) != "cuda":
        raise ConfigError(
            f"a paper-size {model} trains on a GPU only (days of CPU time here); run with --device cuda on a "
            "machine with a GPU, or use model_options.size: cpu (a trained paper-size model loads anywhere)"
        )


def parameter_count(model: str, size: str = "paper", k: int | None = None, **options: Any) -> int:
    """Parameters of ``model`` at ``size`` (rate-adaptive models: the quick preset's 48 latent channels
    unless ``latent_channels`` is given; fixed-rate ones: ``k`` channel uses, default 512 = 16 latent
    channels of an 8×8 latent)."""

    cls = MODELS.get(model)
    opts = size_options(model, {"size": size, **options})
    if getattr(cls, "rate_adaptive", False):
        opts.setdefault("latent_channels", 48)
        net = cls(k=None, **opts)
    else:
        net = cls(k=512 if k is None else int(k), **opts)
    return int(sum(p.numel() for p in net.parameters()))
