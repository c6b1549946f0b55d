"""CLIP's image preprocessing, without torchvision.

OpenAI's CLIP (Radford et al. 2021, github openai/CLIP ``clip.py``) feeds PIL images through: resize so the
*shorter* side equals the input resolution with bicubic interpolation, center crop to a square of that size,
scale to [0, 1], then normalize per channel with the mean/std below. The Hugging Face ``CLIPImageProcessor``
of ``openai/clip-vit-base-patch32`` uses the same steps and constants. Resizing here goes through PIL's
``Image.resize(..., BICUBIC)``, the call torchvision makes for PIL inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to ``size`` (longer side truncated, as torchvision)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def clip_preprocess_one(image: np.ndarray, size: int = 224) -> np.ndarray:
    """uint8 ``[H, W, 3]`` → float32 ``[3, size, size]`` normalized as CLIP expects."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    new_w, new_h = resized_size(pil.width, pil.height, size)
    if (new_w, new_h) != (pil.width, pil.height):
        pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    pil = pil.crop((left, top, left + size, top + size))
    x = np.asarray(pil, dtype=np.float32) / 255.0
    x = (x - np.asarray(CLIP_MEAN, dtype=np.float32)) / np.asarray(CLIP_STD, dtype=np.float32)
    return x.transpose(2, 0, 1)


def clip_preprocess(images: np.ndarray, size: int = 224) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` → float32 ``[B, 3, size, size]``."""
    return torch.from_numpy(np.stack([clip_preprocess_one(im, size) for im in images]))
