"""The stand-in network: a compact CNN whose 512-d embedding plays CLIP's role (docs/design.md §6).

Four conv stages (default widths 32, 64, 128, 256; a strided stem, 2×2 max-pooling between later stages),
global average pooling and a linear map to the embedding. Training adds a cosine-softmax head, so the
embedding is learned for angular (inner-product) nearest-neighbour retrieval, as the knowledge base searches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Fixed input scaling (not learned from data, so the extractor is a pure function of its weights).
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25


class StandinNet(nn.Module):
    """Scaled float images ``[B, 3, H, W]`` → embedding ``[B, dim]`` (not normalized).

    widths: channels of the four stages.
    strides: spatial down-sampling before each stage's convs (stage 0 by a strided conv, later stages by
        2×2 max pooling); the default (2, 2, 2, 1) runs 32×32 inputs at 16, 8, 4, 4 pixels: the
        full-resolution stage costs more CPU time than it buys accuracy.
    convs: conv layers per stage (3×3, batch norm, ReLU each).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        dim: int = 512,
        convs: int = 1,
        strides: tuple[int, ...] = (2, 2, 2, 1),
    ) -> None:
        super().__init__()
        if len(widths) != len(strides):
            raise ValueError("widths and strides need one entry per stage")
        layers: list[nn.Module] = []
        cin = 3
        for stage, (cout, stride) in enumerate(zip(widths, strides, strict=True)):
            if stage > 0 and stride > 1:
                layers.append(nn.MaxPool2d(stride))
            for j in range(convs):
                conv_stride = stride if stage == 0 and j == 0 else 1
                layers += [
                    nn.Conv2d(cin, cout, 3, stride=conv_stride, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(),
                ]
                cin = cout
        self.body = nn.Sequential(*layers)
        self.embed = nn.Linear(cin, dim)

    @staticmethod
    def scale(images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` → float ``[B, 3, H, W]`` in the network's input range."""
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        return x.sub_(PIXEL_MEAN).div_(PIXEL_STD).contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, 3, H, W]`` → ``[B, dim]``."""
        return self.embed(self.body(x).mean(dim=(2, 3)))


class CosineHead(nn.Module):
    """Cosine-softmax classifier: logits = scale · cos(embedding, class weight). ``[B, dim]`` → ``[B, C]``."""

    def __init__(self, dim: int, n_classes: int, scale: float = 16.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.05)
        self.scale = scale

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).t()
