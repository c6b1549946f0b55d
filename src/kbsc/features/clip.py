"""``clip-vit-b32``: OpenAI's CLIP ViT-B/32 image encoder from a local checkpoint (nothing is downloaded).

Two kinds of checkpoint are read:

* the original ``ViT-B-32.pt``, a TorchScript archive: ``torch.jit.load`` reads it without the ``clip``
  package; its ``encode_image`` gives the 512-d embedding, its ``input_resolution`` (224) the input size;
* a Hugging Face ``openai/clip-vit-base-patch32`` folder (needs ``transformers``, the ``clip`` extra):
  ``CLIPVisionModelWithProjection`` → ``image_embeds``.

Both use CLIP's exact preprocessing (:mod:`kbsc.features.clip_preprocess`). Without ``--checkpoint`` the
extractor looks for ``DATA_DIR/checkpoints/ViT-B-32.pt`` or ``DATA_DIR/checkpoints/clip-vit-base-patch32/``.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kbsc.data.base import ImageSet
from kbsc.errors import ConfigError, DataError
from kbsc.features.base import Extractor
from kbsc.features.batching import extract_batched
from kbsc.features.clip_preprocess import clip_preprocess
from kbsc.features.registry import EXTRACTORS
from kbsc.features.torchscript_fix import to_float_on
from kbsc.util import hash_file, hash_obj
from kbsc.util.device import autocast, current_device, inference_precision

PREPROCESS_VERSION = "clip-bicubic-centercrop-v1"
DEFAULT_CHECKPOINTS = ("ViT-B-32.pt", "clip-vit-base-patch32")
HOW_TO = (
    "pass --checkpoint PATH to OpenAI's ViT-B-32.pt (TorchScript archive) or to a Hugging Face "
    "openai/clip-vit-base-patch32 folder, or put one under DATA_DIR/checkpoints/"
)


class ClipExtractor(Extractor):
    """CLIP image encoder as an :class:`Extractor`. ``embed`` maps ``[B, 3, S, S]`` → ``[B, 512]``."""

    name = "clip-vit-b32"

    def __init__(
        self,
        model: Any,
        kind: str,
        resolution: int,
        weights_hash: str,
        dim: int = 512,
        device: torch.device | None = None,
    ) -> None:
        self.model = model
        self.device = torch.device("cpu") if device is None else device
        self.precision = inference_precision()  # autocast of the forward pass (fp32: off)
        self.kind = kind
        self.resolution = int(resolution)
        self.dim = dim
        self._fingerprint = "clip-" + hash_obj([kind, weights_hash, self.resolution, PREPROCESS_VERSION], 12)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def _embed(self, batch: np.ndarray) -> torch.Tensor:
        x = clip_preprocess(batch, self.resolution).to(self.device)
        with autocast(self.device, self.precision):
            if self.kind == "torchscript":
                return self.model.encode_image(x).float()
            return self.model(pixel_values=x).image_embeds.float()

    def extract(self, images: np.ndarray, batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
        """images uint8 ``[N, H, W, 3]`` → float32 ``[N, 512]``, unit rows."""
        return extract_batched(self._embed, images, self.dim, batch_size, show_progress, "CLIP features")


def _resolution_of(model: torch.jit.ScriptModule) -> int:
    for owner in (getattr(model, "visual", None), model):
        value = getattr(owner, "input_resolution", None) if owner is not None else None
        if value is not None:
            return int(value.item() if isinstance(value, torch.Tensor) else value)
    return 224


def load_torchscript(path: Path) -> ClipExtractor:
    """OpenAI's TorchScript archive (``ViT-B-32.pt``), run in float32 on the device setting's device."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a TorchScript archive (expected OpenAI's ViT-B-32.pt); {HOW_TO}")
    try:
        with (
            warnings.catch_warnings()
        ):  # torch.jit is deprecated in favour of torch.export, but is what OpenAI ships
            warnings.simplefilter("ignore", DeprecationWarning)
            device = current_device()
            model = torch.jit.load(str(path), map_location=device)
    except RuntimeError as exc:
        raise DataError(
            f"{path} is not a TorchScript archive ({str(exc).splitlines()[0][:120]}); {HOW_TO}"
        ) from None
    if not hasattr(model, "encode_image"):
        raise DataError(
            f"{path} is a TorchScript archive without encode_image, so not a CLIP model; {HOW_TO}"
        )
    to_float_on(model, device)
    model.eval()
    return ClipExtractor(model, "torchscript", _resolution_of(model), hash_file(path, 32), device=device)


def load_huggingface(folder: Path) -> ClipExtractor:
    """A Hugging Face CLIP folder (``config.json`` + weights) through ``CLIPVisionModelWithProjection``."""
    if not (folder / "config.json").is_file():
        raise DataError(f"{folder} has no config.json, so it is not a Hugging Face model folder; {HOW_TO}")
    try:
        from transformers import CLIPVisionModelWithProjection
    except ImportError:
        raise ConfigError(
            f"{folder} is a Hugging Face folder, which needs transformers: pip install 'kbsc[clip]' "
            "(or use OpenAI's ViT-B-32.pt TorchScript file)"
        ) from None
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not weights:
        raise DataError(f"{folder} holds no .safetensors/.bin weights; {HOW_TO}")
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - e.g. UnpicklingError from a .bin that is not weights only
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise DataError(
            f"cannot load {folder} as a CLIP vision model ({type(exc).__name__}: {first})"
        ) from None
    device = current_device()
    model.to(device).eval()
    digest = hash_obj([hash_file(folder / "config.json", 32)] + [hash_file(p, 32) for p in weights], 32)
    return ClipExtractor(
        model, "huggingface", int(model.config.image_size), digest, model.config.projection_dim, device
    )


def load_clip(checkpoint: Path) -> ClipExtractor:
    """A folder is read as Hugging Face, a file as OpenAI's TorchScript archive."""
    if not checkpoint.exists():
        raise DataError(f"CLIP checkpoint {checkpoint} not found; {HOW_TO}")
    extractor = load_huggingface(checkpoint) if checkpoint.is_dir() else load_torchscript(checkpoint)
    if extractor.dim != 512:
        raise DataError(
            f"{checkpoint} gives {extractor.dim}-d features; clip-vit-b32 must give 512-d (ViT-B/32)"
        )
    return extractor


@EXTRACTORS.register("clip-vit-b32")
def make_clip(
    data_dir: Path,
    train_set: ImageSet | None,
    checkpoint: Path | None,
    seed: int,
    show_progress: bool,
    **options: Any,
) -> ClipExtractor:
    """CLIP from ``checkpoint`` or from ``data_dir/checkpoints/`` (frozen: ``train_set``, ``seed`` unused)."""
    if options:
        raise ConfigError(f"clip-vit-b32 takes no options (got {', '.join(sorted(options))})")
    if checkpoint is None:
        found = [
            data_dir / "checkpoints" / n
            for n in DEFAULT_CHECKPOINTS
            if (data_dir / "checkpoints" / n).exists()
        ]
        if not found:
            raise DataError(f"clip-vit-b32 needs a local checkpoint and none was given; {HOW_TO}")
        checkpoint = found[0]
    return load_clip(checkpoint)
