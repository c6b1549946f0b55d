"""Swin-transformer pieces in plain torch (Liu et al., 2021): window attention with a relative position bias,
shifted windows with the attention mask for the cyclic shift, patch merging and its mirror, patch expanding.

Tokens are ``[B, L, C]`` with ``L = H·W`` in row-major order.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PatchExpand", "PatchMerging", "SwinBlock", "SwinStage", "WindowAttention"]


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """``[B, H, W, C]`` → ``[B·nW, w·w, C]`` (windows in row-major order)."""
    b, h, ww, c = x.shape
    x = x.reshape(b, h // w, w, ww // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_reverse(x: torch.Tensor, w: int, h: int, ww: int) -> torch.Tensor:
    """``[B·nW, w·w, C]`` → ``[B, H, W, C]``."""
    c = x.shape[-1]
    b = x.shape[0] // ((h // w) * (ww // w))
    x = x.reshape(b, h // w, ww // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, ww, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a ``w×w`` window with a learned relative position bias.

    x ``[B·nW, w², C]``; mask ``[nW, w², w²]`` (0 or a large negative) or None.
    """

    def __init__(self, dim: int, window: int, heads: int):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]) + (window - 1)  # [2, w², w²] in 0..2w-2
        self.register_buffer("bias_index", rel[0] * (2 * window - 1) + rel[1], persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # one stacked gradient in backward (indexing zero-fills three)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # [bw, heads, n, n]
        bias = self.bias_table[self.bias_index.reshape(-1)].reshape(n, n, self.heads).permute(2, 0, 1)
        attn = attn + bias[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.reshape(bw // nw, nw, self.heads, n, n) + mask[None, :, None]
            attn = attn.reshape(bw, self.heads, n, n)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


def shift_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Attention mask ``[nW, w², w²]`` for a cyclic shift: tokens of different regions never attend."""
    region = torch.zeros(1, h, w, 1)
    label = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[:, hs, ws, :] = label
            label += 1
    win = window_partition(region, window).squeeze(-1)  # [nW, w²]
    diff = win[:, None, :] - win[:, :, None]
    return torch.where(diff != 0, -100.0, 0.0)


class SwinBlock(nn.Module):
    """(Shifted-)window attention + MLP, each pre-norm with a residual. x ``[B, H·W, C]``."""

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        heads: int,
        window: int,
        shift: int,
        mlp_ratio: float = 2.0,
    ):
        super().__init__()
        h, w = resolution
        if min(h, w) <= window:  # one window covers the map: no shift needed
            window, shift = min(h, w), 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        mask = shift_mask(h, w, window, shift) if shift > 0 else None
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        y = self.norm1(x).reshape(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self.mask)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class SwinStage(nn.Module):
    """``depth`` blocks alternating regular and shifted windows (shift = window / 2)."""

    def __init__(
        self,
        dim: int,
        resolution: tuple[int, int],
        depth: int,
        heads: int,
        window: int,
        mlp_ratio: float = 2.0,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                SwinBlock(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x


class PatchMerging(nn.Module):
    """2×2 neighbouring tokens → one: ``[B, H·W, C]`` → ``[B, H/2·W/2, out]``."""

    def __init__(self, dim: int, out: int, resolution: tuple[int, int]):
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduce = nn.Linear(4 * dim, out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = (
            x.reshape(b, h // 2, 2, w // 2, 2, c)
            .permute(0, 1, 3, 4, 2, 5)
            .reshape(b, (h // 2) * (w // 2), 4 * c)
        )
        return self.reduce(self.norm(x))


class PatchExpand(nn.Module):
    """The mirror of :class:`PatchMerging`: ``[B, H·W, C]`` → ``[B, 2H·2W, out]``."""

    def __init__(self, dim: int, out: int, resolution: tuple[int, int]):
        super().__init__()
        self.resolution = resolution
        self.expand = nn.Linear(dim, 4 * out, bias=False)
        self.norm = nn.LayerNorm(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b = x.shape[0]
        x = self.expand(x)
        out = x.shape[-1] // 4
        x = x.reshape(b, h, w, 2, 2, out).permute(0, 1, 3, 2, 4, 5).reshape(b, 4 * h * w, out)
        return self.norm(x)
