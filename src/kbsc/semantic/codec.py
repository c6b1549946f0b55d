"""The KBSC feature codec of arXiv 2504.01053 and our SNR-conditioned extension.

Architecture (PAPER.md, from the authors' code): encoder Linear 512→384, ReLU, Linear 384→2k, BatchNorm(2k);
decoder Linear 2k→384, ReLU, Linear 384→512, BatchNorm(512). The 2k encoder outputs of ONE image are paired
into its k complex symbols (real part = even output, imaginary part = odd output; the authors paired reals
of different images, which we do not copy). The decoder output is not re-normalized (the paper does not).

Power normalization (``power_norm``):

* ``"image"`` (default): every image's k symbols have mean |x|² = 1 exactly (docs/design.md §2).
* ``"batch"``: the authors' choice: mean |x|² = 1 over the whole batch, so one image's power depends on the
  other images it is sent with. Offered to reproduce their setting only.

The receiver gets no side information (no power factor, no SNR) in the faithful model. ``KBSCSNRCodec`` is our
extension, always reported under its own name ``kbsc-snr``: the SNR in dB drives feature-wise affine scaling
(FiLM) of the encoder's and the decoder's hidden layer, and the decoder also sees the per-RE post-equalization
noise variance that the bridge reports (log10, one value per symbol). ``kbsc-csi``
(:mod:`kbsc.semantic.csi_codec`) is the authors' encoder with a decoder that weighs each received symbol by
that variance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kbsc.errors import ConfigError
from kbsc.util.cbr import cbr_to_k as channel_uses
from kbsc.util.registry import Registry

__all__ = [
    "CODECS",
    "KBSCCodec",
    "KBSCSNRCodec",
    "POWER_NORMS",
    "SemanticCodec",
    "complex_to_reals",
    "normalize_power",
    "reals_to_complex",
]

POWER_NORMS = ("image", "batch")


def reals_to_complex(z: torch.Tensor) -> torch.Tensor:
    """``[B, 2k]`` reals → ``[B, k]`` complex64, pairing outputs (2i, 2i+1) of the same image."""
    z = z.float().reshape(z.shape[0], -1, 2)
    return torch.complex(z[..., 0].contiguous(), z[..., 1].contiguous())


def complex_to_reals(y: torch.Tensor) -> torch.Tensor:
    """``[B, k]`` complex → ``[B, 2k]`` float32 reals, the inverse of :func:`reals_to_complex`."""
    return torch.view_as_real(y.to(torch.complex64)).reshape(y.shape[0], -1)


def normalize_power(x: torch.Tensor, mode: str = "image", eps: float = 1e-12) -> torch.Tensor:
    """Scale complex symbols ``[B, k]`` to unit mean power per image (``"image"``) or per batch
    (``"batch"``)."""
    power = x.real**2 + x.imag**2
    if mode == "image":
        mean = power.mean(dim=1, keepdim=True)
    elif mode == "batch":
        mean = power.mean()
    else:
        raise ConfigError(f"unknown power_norm {mode!r}; choose one of: {', '.join(POWER_NORMS)}")
    return x * torch.rsqrt(mean + eps)


class SemanticCodec(nn.Module):
    """Interface of a feature codec: 512-d feature → k complex symbols → 512-d estimate.

    ``snr_db`` ``[B]`` and ``noise_var`` ``[B, k]`` are passed to every codec; the faithful model ignores
    them.
    """

    #: whether the codec has weights to train
    trainable: bool = True

    def __init__(self, k: int, feature_dim: int = 512) -> None:
        super().__init__()
        if k < 1:
            raise ConfigError(f"the codec needs at least one channel use per image, got k={k}; raise the CBR")
        self.k = int(k)
        self.feature_dim = int(feature_dim)

    def encode(self, f: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, feature_dim]`` float → ``[B, k]`` complex64, mean |x|² = 1."""
        raise NotImplementedError

    def decode(
        self, y: torch.Tensor, snr_db: torch.Tensor | None = None, noise_var: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[B, k]`` complex equalized symbols → ``[B, feature_dim]`` float32 feature estimate."""
        raise NotImplementedError


class KBSCCodec(SemanticCodec):
    """The authors' model (no SNR input). ``k`` complex symbols = ``2k`` encoder outputs."""

    def __init__(self, k: int, hidden: int = 384, feature_dim: int = 512, power_norm: str = "image") -> None:
        super().__init__(k, feature_dim)
        if power_norm not in POWER_NORMS:
            raise ConfigError(f"unknown power_norm {power_norm!r}; choose one of: {', '.join(POWER_NORMS)}")
        self.power_norm = power_norm
        self.enc1 = nn.Linear(feature_dim, hidden)
        self.enc2 = nn.Linear(hidden, 2 * self.k)
        self.enc_bn = nn.BatchNorm1d(2 * self.k)
        self.dec1 = nn.Linear(self._decoder_inputs(), hidden)
        self.dec2 = nn.Linear(hidden, feature_dim)
        self.dec_bn = nn.BatchNorm1d(feature_dim)

    def _decoder_inputs(self) -> int:
        return 2 * self.k

    def _enc_hidden(self, h: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        return h

    def _dec_hidden(self, h: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        return h

    def _dec_input(self, y: torch.Tensor, noise_var: torch.Tensor | None) -> torch.Tensor:
        return complex_to_reals(y)

    def encode(self, f: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self._enc_hidden(self.enc1(f), snr_db))
        z = self.enc_bn(self.enc2(h))
        return normalize_power(reals_to_complex(z), self.power_norm)

    def decode(
        self, y: torch.Tensor, snr_db: torch.Tensor | None = None, noise_var: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = torch.relu(self._dec_hidden(self.dec1(self._dec_input(y, noise_var)), snr_db))
        return self.dec_bn(self.dec2(h))


class _FiLM(nn.Module):
    """SNR (dB) → per-feature scale γ and shift β: ``h ↦ h·(1+γ) + β`` (γ, β start at zero)."""

    def __init__(self, width: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 2 * width))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, h: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        if snr_db is None:
            raise ConfigError("the SNR-conditioned codec needs the SNR of every image (snr_db)")
        s = torch.as_tensor(snr_db, dtype=h.dtype, device=h.device).reshape(-1, 1)
        s = s.expand(h.shape[0], 1) / 10.0
        gamma, beta = self.net(s).chunk(2, dim=1)
        return h * (1.0 + gamma) + beta


class KBSCSNRCodec(KBSCCodec):
    """Our extension: FiLM(SNR) on both hidden layers; the decoder also gets log10 of the per-RE noise
    variance."""

    def __init__(
        self,
        k: int,
        hidden: int = 384,
        feature_dim: int = 512,
        power_norm: str = "image",
        use_noise_var: bool = True,
    ) -> None:
        self.use_noise_var = bool(use_noise_var)
        super().__init__(k, hidden, feature_dim, power_norm)
        self.enc_film = _FiLM(hidden)
        self.dec_film = _FiLM(hidden)

    def _decoder_inputs(self) -> int:
        return 3 * self.k if self.use_noise_var else 2 * self.k

    def _enc_hidden(self, h: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        return self.enc_film(h, snr_db)

    def _dec_hidden(self, h: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        return self.dec_film(h, snr_db)

    def _dec_input(self, y: torch.Tensor, noise_var: torch.Tensor | None) -> torch.Tensor:
        reals = complex_to_reals(y)
        if not self.use_noise_var:
            return reals
        if noise_var is None:
            raise ConfigError("the SNR-conditioned codec needs the per-RE noise variance from the bridge")
        lnv = torch.log10(noise_var.float().clamp_min(1e-6)) / 2.0
        return torch.cat([reals, lnv], dim=1)


# variant name → codec factory ``(k, **options) -> SemanticCodec``
CODECS: Registry[type[SemanticCodec]] = Registry(
    "semantic codec", modules=("kbsc.semantic.reference", "kbsc.semantic.csi_codec")
)
CODECS.add("kbsc", KBSCCodec)
CODECS.add("kbsc-snr", KBSCSNRCodec)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cbr_to_k(cbr: float, source_dim: int = 3072) -> int:
    """k = round(ρ·n) (docs/design.md §2), at least 1 (else a one-line ConfigError)."""
    k = channel_uses(cbr, source_dim)
    if k < 1 or not math.isfinite(cbr):
        raise ConfigError(f"CBR {cbr:g} gives {k} channel uses per image for n={source_dim}; raise it")
    return k
