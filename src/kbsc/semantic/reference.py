"""The no-codec reference: the raw unit-norm 512-d feature sent as 256 complex symbols (PAPER.md §References).

Its natural size is fixed by the feature: 512 reals = 256 complex symbols (CBR 1/12 at n = 3072). At any
other k (DESIGN.md §2: every system gets exactly k data REs) we do the simplest honest thing:

* k < 256: only the first k symbols (the first 2k feature values) are sent; the receiver fills the missing
  values with zeros. The retrieval still works from the partial inner product.
* k ≥ 256: the 256 symbols are repeated cyclically over the k REs and the receiver combines the copies of each
  symbol with inverse-noise-variance weights (maximum-ratio combining of equalized copies).

Power: the feature has ‖f‖ = 1, so its 256 symbols have mean power 1/256; they are scaled by 16 (in general
sqrt(feature_dim/2)) to unit mean power per image, and the receiver divides by the same known constant. When
k is not a multiple of 256 the per-image power is then exactly renormalized to 1 (a common per-image factor).
"""

from __future__ import annotations

import math

import torch

from kbsc.semantic.codec import CODECS, SemanticCodec, complex_to_reals, reals_to_complex

__all__ = ["NoCodec"]


class NoCodec(SemanticCodec):
    """Uncoded feature transmission (no weights). ``k`` is the number of REs granted per image."""

    trainable = False

    def __init__(self, k: int, feature_dim: int = 512, **_: object) -> None:
        super().__init__(k, feature_dim)
        self.n_sym = feature_dim // 2
        self.scale = math.sqrt(self.n_sym)

    def _positions(self, device: torch.device | None = None) -> torch.Tensor:
        """Which feature symbol each of the k REs carries ``[k]`` (cyclic repetition when k > 256)."""
        return torch.arange(self.k, device=device) % self.n_sym

    def encode(self, f: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        sym = reals_to_complex(f.float()) * self.scale  # [B, 256], ‖f‖ = 1 → mean power 1
        x = sym[:, : self.k] if self.k <= self.n_sym else sym[:, self._positions(sym.device)]
        # a truncated or partly repeated feature does not have mean power 1 exactly: rescale per image (a
        # common factor on all of the image's REs, harmless for retrieval, which ranks by inner product)
        power = (x.real**2 + x.imag**2).mean(dim=1, keepdim=True)
        return x * torch.rsqrt(power + 1e-12)

    def decode(
        self, y: torch.Tensor, snr_db: torch.Tensor | None = None, noise_var: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch, dev = y.shape[0], y.device
        if self.k <= self.n_sym:
            full = torch.zeros(batch, self.n_sym, dtype=torch.complex64, device=dev)
            full[:, : self.k] = y.to(torch.complex64)
        else:
            w = (
                torch.ones(y.shape, dtype=torch.float32, device=dev)
                if noise_var is None
                else 1.0 / noise_var.float()
            )
            pos = self._positions(dev).expand(batch, -1)
            num = torch.zeros(batch, self.n_sym, dtype=torch.complex64, device=dev).scatter_add(
                1, pos, (y.to(torch.complex64) * w)
            )
            den = torch.zeros(batch, self.n_sym, dtype=torch.float32, device=dev).scatter_add(1, pos, w)
            full = num / den
        return complex_to_reals(full) / self.scale


CODECS.add("kbsc-no-codec", NoCodec)
