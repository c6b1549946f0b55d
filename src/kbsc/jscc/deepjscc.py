"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz, 2019) and its SNR-adaptive variant (ADJSCC, Xu et al., 2021).

Encoder, as in the paper's CIFAR-10 model: five 5×5 convolutions (w/2, w, w, w, c channels; strides 2, 2, 1,
1, 1) with PReLU and a normalization before each PReLU; the decoder mirrors it with transposed convolutions
and a sigmoid output. Normalization (``norm``): ``batch`` (default) or ``gdn`` (GDN/IGDN, as in the later
DeepJSCC models). BatchNorm is the default because it trains much faster on a CPU budget: on synthetic100,
CBR 1/2, AWGN, 600 steps of batch 32, validation PSNR 19.6 dB with BatchNorm vs 17.0 dB with GDN (mean-colour
image: 15.6 dB); with the budgets of the quick preset GDN barely leaves the mean image.

A 32×32 image gives an 8×8×c latent; for ``k``
channel uses the model has ``c = ⌈2k/64⌉`` latent channels and sends their first ``2k`` reals
(:mod:`kbsc.jscc.base`), so any ``k`` works (the quick CBRs 1/24 … 1/2 need c = 4 … 48 exactly, nothing
dropped).

``deepjscc`` reads neither the SNR nor the noise variance (faithful: one model per (k, channel); trained over
the configured SNR range). ``deepjscc-adaptive`` adds an ADJSCC attention-feature module fed with the SNR
after every encoder and decoder stage, and its decoder also reads the equalizer's per-symbol noise variance
(log10, one map beside the latent) – our addition, which matters on fading channels where equalization colours
the noise.

``linear_path`` (model option; off by default, so ``deepjscc`` stays the paper's model) adds a linear path
from the image to the latent and from the latent to the output: ``block`` (or ``true``) a learned 4×4
block-linear one (:mod:`kbsc.jscc.linear_path`; the presets' ``deepjscc-adaptive``), ``spectral`` a
SoftCast-style global one (:mod:`kbsc.jscc.spectral_path`; the presets' ``deepjscc-adaptive+softcast``).
"""

from __future__ import annotations

import torch
from torch import nn

from kbsc.jscc.base import JSCCModel
from kbsc.jscc.layers import GDN, AttentionModulation
from kbsc.jscc.linear_path import make_linear_path
from kbsc.jscc.registry import MODELS

__all__ = ["DeepJSCC", "DeepJSCCAdaptive"]

SNR_SCALE = 20.0  # side input = snr_db / SNR_SCALE


def _conv(cin: int, cout: int, stride: int, kernel: int = 5) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def _deconv(cin: int, cout: int, stride: int, kernel: int = 5) -> nn.Module:
    pad = kernel // 2
    if stride == 1:
        return nn.ConvTranspose2d(cin, cout, kernel, stride=1, padding=pad)
    return nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=pad, output_padding=1)


NORMS = ("batch", "gdn")


def _norm(kind: str, channels: int, inverse: bool) -> nn.Module:
    return GDN(channels, inverse=inverse) if kind == "gdn" else nn.BatchNorm2d(channels)


class _Stage(nn.Module):
    def __init__(self, layer: nn.Module, channels: int, inverse: bool, adaptive: bool, norm: str = "batch"):
        super().__init__()
        self.layer, self.norm, self.act = layer, _norm(norm, channels, inverse), nn.PReLU(channels)
        self.af = AttentionModulation(channels, side_dim=1) if adaptive else None

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm(self.layer(x)))
        return self.af(x, side) if self.af is not None else x


@MODELS.register("deepjscc")
class DeepJSCC(JSCCModel):
    """Convolutional JSCC autoencoder for one ``k``. images ``[B, 3, H, W]`` → ``k`` symbols → images."""

    name = "deepjscc"
    snr_adaptive = False

    def __init__(
        self,
        k: int,
        width: int = 32,
        image_size: int = 32,
        norm: str = "batch",
        linear_path: bool | str = False,
        outer_width: int | None = None,
        outer_kernel: int = 5,
        **_: object,
    ) -> None:
        super().__init__(k)
        if outer_kernel < 1 or outer_kernel % 2 == 0:
            raise ValueError(f"outer_kernel must be odd and positive, got {outer_kernel}")
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        s = (image_size // 4) ** 2
        c = -(-2 * k // s)
        self.latent_shape = (c, s)
        self.side = image_size // 4
        w, a = width, self.snr_adaptive
        # the outermost stages (first encoder, last decoder): w/2 channels and 5×5 kernels in DeepJSCC,
        # w channels and 9×9 kernels in ADJSCC's published model (outer_width, outer_kernel)
        wo, ko = int(outer_width or w // 2), int(outer_kernel)
        self.enc = nn.ModuleList(
            [
                _Stage(_conv(3, wo, 2, ko), wo, False, a, norm),
                _Stage(_conv(wo, w, 2), w, False, a, norm),
                _Stage(_conv(w, w, 1), w, False, a, norm),
                _Stage(_conv(w, w, 1), w, False, a, norm),
            ]
        )
        self.enc_out = _conv(w, c, 1)
        cin = 2 * c if a else c
        self.dec = nn.ModuleList(
            [
                _Stage(_deconv(cin, w, 1), w, True, a, norm),
                _Stage(_deconv(w, w, 1), w, True, a, norm),
                _Stage(_deconv(w, w, 1), w, True, a, norm),
                _Stage(_deconv(w, wo, 2), wo, True, a, norm),
            ]
        )
        self.dec_out = _deconv(wo, 3, 2, ko)
        self.linear = make_linear_path(linear_path, c, self.side, image_size)

    @staticmethod
    def _side(snr_db: torch.Tensor, b: int, device: torch.device | None = None) -> torch.Tensor:
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
        return (snr.reshape(-1).expand(b) / SNR_SCALE)[:, None]

    def analysis(self, images: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        side = self._side(snr_db, images.shape[0], images.device)
        centred = images - 0.5
        x = centred
        for stage in self.enc:
            x = stage(x, side)
        z = self.enc_out(x).flatten(2)
        return z if self.linear is None else z + self.linear.encode(centred, snr_db, k)

    def synthesis(self, z: torch.Tensor, log_nv: torch.Tensor, snr_db: torch.Tensor, k: int) -> torch.Tensor:
        b = z.shape[0]
        side = self._side(snr_db, b, z.device)
        x = z if not self.snr_adaptive else torch.cat([z, log_nv / 2.0], dim=1)
        # channels-last like the encoder's input (NHWC images): ~10 % less CPU time in the transposed convs
        x = x.reshape(b, x.shape[1], self.side, self.side).contiguous(memory_format=torch.channels_last)
        for stage in self.dec:
            x = stage(x, side)
        logits = self.dec_out(x)
        if self.linear is not None:
            logits = logits + self.linear.decode(z, log_nv, k, snr_db)
        return torch.sigmoid(logits)


@MODELS.register("deepjscc-adaptive")
class DeepJSCCAdaptive(DeepJSCC):
    """DeepJSCC with ADJSCC attention modules on the SNR and the noise-variance map at the decoder."""

    name = "deepjscc-adaptive"
    snr_adaptive = True
