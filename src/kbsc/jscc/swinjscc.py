"""A compact SwinJSCC-class model (after Yang, Xu, Niu, Tan, Zhang, 2024) for 32×32 images.

Encoder: 2×2 patch embedding (16×16 tokens, C1 channels) → Swin stage (window 4, shifted windows) → patch
merging (8×8 tokens, C2) → Swin stage → channel-state + rate modulation (ADJSCC-style gains from pooled
features, the SNR and the rate; the spirit of SwinJSCC's channel ModNet and rate ModNet) → linear head to
``C_lat`` latent channels per token. Decoder: the mirror (latent + per-real log noise variance → C2,
modulation, Swin stage, patch expanding, Swin stage, 2×2 pixel head, sigmoid).

Rate adaptation: one model serves every ``k ≤ C_lat·64/2``. The latent is read channel-major and only its
first ``2k`` reals are mapped to symbols (:mod:`kbsc.jscc.base`): the masked channels are never transmitted,
the bridge sees ``k`` symbols and the decoder sees zeros (and an "unsent" noise level) in their place.
Training draws ``k`` from the configured CBRs so the model learns to put what matters first. (SwinJSCC's rate
ModNet picks the kept channels per image and sends the choice as side information; a fixed order needs none,
which keeps the channel-use count exact.)

Default size (C1=32, C2=64, depths 2+2 / 2+2, heads 2/4, MLP ratio 2, C_lat=48): 204,788 parameters, 20.0
MFLOPs to encode and 20.4 MFLOPs to decode one image (``kbsc jscc info``, :func:`kbsc.jscc.cost.model_cost`).
``linear_path`` adds a linear path beside encoder and decoder (our addition): ``block`` a learned 4×4
block-linear one (:mod:`kbsc.jscc.linear_path`, on in the presets), ``spectral`` a SoftCast-style global one
(:mod:`kbsc.jscc.spectral_path`).
"""

from __future__ import annotations

import torch
from torch import nn

from kbsc.jscc.base import JSCCModel
from kbsc.jscc.layers import AttentionModulation
from kbsc.jscc.linear_path import make_linear_path
from kbsc.jscc.registry import MODELS
from kbsc.jscc.swin import PatchExpand, PatchMerging, SwinStage

__all__ = ["SwinJSCC"]

SNR_SCALE = 20.0


@MODELS.register("swinjscc")
class SwinJSCC(JSCCModel):
    """Swin-transformer JSCC serving a range of SNRs and rates. images ``[B, 3, 32, 32]`` ↔ ``k`` symbols."""

    name = "swinjscc"
    rate_adaptive = True
    snr_adaptive = True

    def __init__(
        self,
        k: int | None = None,
        c1: int = 32,
        c2: int = 64,
        latent_channels: int = 48,
        depths: tuple[int, int] = (2, 2),
        heads: tuple[int, int] = (2, 4),
        window: int = 4,
        mlp_ratio: float = 2.0,
        image_size: int = 32,
        linear_path: bool | str = False,
        **_: object,
    ) -> None:
        super().__init__(None)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        r1, r2 = image_size // 2, image_size // 4
        self.r2 = r2
        self.latent_shape = (int(latent_channels), r2 * r2)
        if k is not None and k > self.max_k:
            raise ValueError(
                f"swinjscc with latent_channels={latent_channels} carries at most {self.max_k} symbols; "
                f"k={k} asked (raise latent_channels)"
            )
        self.embed = nn.Conv2d(3, c1, 2, stride=2)
        self.embed_norm = nn.LayerNorm(c1)
        self.enc1 = SwinStage(c1, (r1, r1), depths[0], heads[0], window, mlp_ratio)
        self.merge = PatchMerging(c1, c2, (r1, r1))
        self.enc2 = SwinStage(c2, (r2, r2), depths[1], heads[1], window, mlp_ratio)
        self.enc_mod = AttentionModulation(c2, side_dim=2, tokens=True)
        self.enc_head = nn.Sequential(nn.LayerNorm(c2), nn.Linear(c2, latent_channels))
        self.dec_in = nn.Linear(2 * latent_channels, c2)
        self.dec_mod = AttentionModulation(c2, side_dim=2, tokens=True)
        self.dec2 = SwinStage(c2, (r2, r2), depths[1], heads[1], window, mlp_ratio)
        self.expand = PatchExpand(c2, c1, (r2, r2))
        self.dec1 = SwinStage(c1, (r1, r1), depths[0], heads[0], window, mlp_ratio)
        self.head = nn.Linear(c1, 12)
        self.linear = make_linear_path(linear_path, int(latent_channels), r2, image_size)

    def _side(self, snr_db: torch.Tensor, b: int, k: int) -> torch.Tensor:
        device = self.head.weight.device
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device).reshape(-1).expand(b) / SNR_SCALE
        rate = torch.full((b,), k / self.max_k, device=device)
        return torch.stack([snr, rate], dim=1)

    def analysis(self, images: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        b = images.shape[0]
        centred = images - 0.5
        x = self.embed(centred).flatten(2).transpose(1, 2)  # [B, r1², C1]
        x = self.enc2(self.merge(self.enc1(self.embed_norm(x))))
        x = self.enc_mod(x, self._side(snr_db, b, k))
        z = self.enc_head(x).transpose(1, 2)  # [B, C_lat, r2²]
        return z if self.linear is None else z + self.linear.encode(centred, snr_db, k)

    def synthesis(self, z: torch.Tensor, log_nv: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        b = z.shape[0]
        x = self.dec_in(torch.cat([z, log_nv / 2.0], dim=1).transpose(1, 2))  # [B, r2², C2]
        x = self.dec_mod(x, self._side(snr_db, b, k))
        x = self.dec1(self.expand(self.dec2(x)))  # [B, r1², C1]
        r1 = 2 * self.r2
        x = self.head(x).reshape(b, r1, r1, 3, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, 3, 2 * r1, 2 * r1)
        return torch.sigmoid(x if self.linear is None else x + self.linear.decode(z, log_nv, k, snr_db))
