"""What the receiver's extractor costs in a grid: images per cell that go through it, and the per-image cost
of CLIP ViT-B/32's architecture (random weights: the cost does not depend on them).

Used by ``kbsc bench`` to turn the stand-in grid estimate into one for the paper preset's CLIP extractor:
each cell's decoded images that miss the feature caches cost ``clip_s - standin_s`` more each.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from kbsc.features.clip import ClipExtractor

__all__ = ["CountingExtractor", "clip_cost", "extractions_per_image", "random_clip_vit_b32", "time_extractor"]


class CountingExtractor:
    """Wraps an extractor and counts the images it is asked for (cache hits never reach it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def extract(self, images: np.ndarray, *args: Any, **kw: Any) -> np.ndarray:
        self.count += len(images)
        return self.inner.extract(images, *args, **kw)


def random_clip_vit_b32(seed: int = 0):
    """A :class:`~kbsc.features.clip.ClipExtractor` of CLIP ViT-B/32's architecture (224 px, patch 32, width
    768, 12 layers and heads, 512-d projection, quick-GELU) with random weights; needs ``transformers``."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
        patch_size=32,
        projection_dim=512,
        hidden_act="quick_gelu",
    )
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(cfg).eval()
    return ClipExtractor(model, "huggingface", 224, f"random-{seed}")


def time_extractor(extractor: Any, n: int = 128, batch_size: int = 64, threads: int = 2) -> dict[str, float]:
    """Wall and CPU seconds per image of ``extractor.extract`` on ``n`` random 32×32 images (after one
    warm-up batch)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        with torch.inference_mode():
            extractor.extract(x[:batch_size], batch_size=batch_size, show_progress=False)
            t0, c0 = time.perf_counter(), time.process_time()
            extractor.extract(x, batch_size=batch_size, show_progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(old)
    return {
        "s_per_image": wall / n,
        "cpu_s_per_image": cpu / n,
        "n": n,
        "batch": batch_size,
        "threads": threads,
    }


def clip_cost(n: int = 128) -> dict[str, Any]:
    """Per-image cost of the CLIP ViT-B/32 architecture at batch 64 with 2 threads."""
    ext = random_clip_vit_b32()
    out = time_extractor(ext, n=n)
    out["params_m"] = round(sum(p.numel() for p in ext.model.parameters()) / 1e6, 2)
    return out


def extractions_per_image(tasks, ctx, systems: dict[str, Any]) -> dict[tuple[str, float], float]:
    """Images through the extractor per sender image, by (system, CBR), over ``tasks`` evaluated in order
    on ``ctx`` with the given system instances (steady state: run them once before to fill the caches)."""
    counter = CountingExtractor(ctx.extractor)
    cctx = dataclasses.replace(ctx, extractor=counter)
    acc: dict[tuple[str, float], list[float]] = {}
    for t in tasks:
        before = counter.count
        systems[t.label].evaluate(t.cell, cctx)
        acc.setdefault((t.cell.system, float(t.cell.cbr)), []).append(
            (counter.count - before) / len(ctx.images)
        )
    return {key: float(np.mean(v)) for key, v in acc.items()}
