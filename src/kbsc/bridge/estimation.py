"""Channel estimation at the data REs from the pilots (``CSI_MODES``) and the LMMSE equalizer.

All estimators start from the least-squares (LS) estimates at the pilots, ĥ_p = r_p·p* (|p| = 1), whose error
variance is N0, and return ĥ at the data REs with the variance of its error:

* ``perfect``:    ĥ = h, error 0;
* ``ls-nearest``: each data RE takes the LS estimate of the nearest pilot (nearest pilot subcarrier, then
  nearest pilot OFDM symbol; ties go to the earlier one); error variance N0;
* ``ls-linear``:  linear interpolation across pilot subcarriers and across pilot OFDM symbols (held constant
  outside the pilot span); error variance N0·Σw² of the interpolation weights w;
* ``lmmse``:      the LMMSE (Wiener) estimate from all pilots of the slot with the model's known covariance
  (power-delay profile and Doppler): ĥ_d = R_dp (R_pp + N0 I)⁻¹ ĥ_p, error variance
  diag(R_dd − R_dp (R_pp + N0 I)⁻¹ R_pd). R_pp = U Λ Uᴴ is diagonalized once, so any per-image N0 costs one
  matrix product.

The interpolation errors of the LS modes (channel change between pilots) are not in their error variance,
as in Sionna's ``LSChannelEstimator``; the LMMSE error variance is exact for the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from kbsc.bridge.channels import ChannelModel
from kbsc.bridge.grid import ResourceGrid
from kbsc.errors import ConfigError
from kbsc.util import Registry

__all__ = [
    "CSI_MODES",
    "ChannelEstimator",
    "LMMSEEstimator",
    "LSInterpolation",
    "PerfectCSI",
    "lmmse_equalize",
]


class ChannelEstimator(ABC):
    """Estimates the channel at the first ``need`` data REs of every slot."""

    name = ""
    needs_pilots = True

    def __init__(self, rg: ResourceGrid, model: ChannelModel) -> None:
        self.rg, self.model = rg, model

    @abstractmethod
    def estimate(
        self, h_ls: torch.Tensor, no: torch.Tensor, h_data: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h_ls: complex64 ``[B, S, P]`` LS estimates at the pilots; no: float32 ``[B]`` noise variance N0;
        h_data: complex64 ``[B, S, need]`` true channel at the data REs.

        Returns ĥ complex64 ``[B, S, need]`` and its error variance float32 (broadcastable to ĥ).
        """


CSI_MODES: Registry[type[ChannelEstimator]] = Registry("CSI mode")
MAX_LMMSE_PILOTS = 2048


@CSI_MODES.register("perfect")
class PerfectCSI(ChannelEstimator):
    name = "perfect"
    needs_pilots = False

    def estimate(self, h_ls, no, h_data):
        return h_data, torch.zeros((1, 1, h_data.shape[-1]), dtype=torch.float32)


def _axis_weights(points: np.ndarray, anchors: np.ndarray, linear: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each point: two anchor indices and weights (nearest: weight 1 on the nearest)."""
    n = len(points)
    idx = np.zeros((n, 2), dtype=np.int64)
    w = np.zeros((n, 2), dtype=np.float64)
    for i, x in enumerate(points):
        if not linear or x <= anchors[0] or x >= anchors[-1]:
            j = int(np.argmin(np.abs(anchors - x)))  # argmin takes the first (earlier) of ties
            idx[i] = (j, j)
            w[i] = (1.0, 0.0)
        else:
            j = int(np.searchsorted(anchors, x, side="right")) - 1
            a, b = anchors[j], anchors[j + 1]
            t = (x - a) / (b - a)
            idx[i] = (j, j + 1)
            w[i] = (1.0 - t, t)
    return idx, w


class LSInterpolation(ChannelEstimator):
    """LS at the pilots, separable nearest/linear interpolation (subcarriers, then OFDM symbols)."""

    linear = False

    def __init__(self, rg: ResourceGrid, model: ChannelModel) -> None:
        super().__init__(rg, model)
        pil = rg.pilot_positions
        sym = np.unique(pil[:, 0])
        sc = np.unique(pil[:, 1])
        if len(pil) != len(sym) * len(sc):  # pilots are a product pattern by construction of the grid
            raise AssertionError("pilot pattern is not a symbol × subcarrier product")
        d = rg.data_positions
        ti, tw = _axis_weights(d[:, 0], sym, self.linear)
        fi, fw = _axis_weights(d[:, 1], sc, self.linear)
        # pilot flat index within the (symbol-major) pilot list: i_sym * len(sc) + i_sc
        idx = (ti[:, :, None] * len(sc) + fi[:, None, :]).reshape(len(d), 4)
        w = (tw[:, :, None] * fw[:, None, :]).reshape(len(d), 4)
        self._idx = torch.from_numpy(idx)
        self._w = torch.from_numpy(w.astype(np.float32))
        self._gain = torch.from_numpy((w**2).sum(axis=1).astype(np.float32))  # [D]

    def estimate(self, h_ls, no, h_data):
        need = h_data.shape[-1]
        idx, w = self._idx[:need], self._w[:need]
        picked = h_ls[:, :, idx]  # [B, S, need, 4]
        h_hat = (picked * w.to(picked.dtype)).sum(dim=-1)
        err = no.reshape(-1, 1, 1) * self._gain[:need]
        return h_hat, err


@CSI_MODES.register("ls-nearest")
class LSNearest(LSInterpolation):
    name = "ls-nearest"
    linear = False


@CSI_MODES.register("ls-linear")
class LSLinear(LSInterpolation):
    name = "ls-linear"
    linear = True


@CSI_MODES.register("lmmse")
class LMMSEEstimator(ChannelEstimator):
    """Wiener filter over all pilots of a slot with the model's covariance (see the module docstring)."""

    name = "lmmse"

    def __init__(self, rg: ResourceGrid, model: ChannelModel) -> None:
        super().__init__(rg, model)
        pil, dat = rg.pilot_positions, rg.data_positions
        if len(pil) > MAX_LMMSE_PILOTS:
            raise ConfigError(
                f"lmmse estimation filters all {len(pil)} pilots of a slot jointly "
                f"(limit {MAX_LMMSE_PILOTS}); "
                "use fewer subcarriers, a larger pilot_subcarrier_step, or csi ls-linear"
            )
        r_pp = model.covariance(pil, pil)
        r_dp = model.covariance(dat, pil)
        r_dd = np.ones(len(dat))  # E|h|² = 1 on every RE for every model (tested)
        lam, u = np.linalg.eigh((r_pp + r_pp.conj().T) / 2)
        lam = np.clip(lam, 0.0, None)
        a = r_dp @ u  # [D, P]
        self._lam = torch.from_numpy(lam.astype(np.float32))  # [P]
        self._u_conj = torch.from_numpy(u.conj().astype(np.complex64))  # [P, P]
        self._a_t = torch.from_numpy(np.ascontiguousarray(a.T).astype(np.complex64))  # [P, D]
        self._a2_t = torch.from_numpy(np.ascontiguousarray((np.abs(a) ** 2).T).astype(np.float32))  # [P, D]
        self._r_dd = torch.from_numpy(r_dd.astype(np.float32))  # [D]

    def estimate(self, h_ls, no, h_data):
        need = h_data.shape[-1]
        inv = 1.0 / (self._lam[None, :] + no[:, None])  # [B, P]
        z = (h_ls @ self._u_conj) * inv[:, None, :].to(h_ls.dtype)  # [B, S, P]
        h_hat = z @ self._a_t[:, :need]  # [B, S, need]
        err = self._r_dd[:need][None, :] - inv @ self._a2_t[:, :need]  # [B, need]
        return h_hat, err.clamp_min(0.0)[:, None, :]


def lmmse_equalize(
    r: torch.Tensor, h_hat: torch.Tensor, err_var: torch.Tensor, no: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-antenna LMMSE equalization with unbiased output, as Sionna's ``lmmse_equalizer``.

    r, h_hat: complex64 ``[B, n]``; err_var (channel-estimation error variance), no (N0): float32,
    broadcastable to ``[B, n]``. With s = N0 + err_var (E|x|² = 1) the LMMSE filter is
    g = ĥ*/(|ĥ|² + s) and its bias μ = g·ĥ = |ĥ|²/(|ĥ|² + s); the unbiased output
    x̂ = g·r/μ = ĥ*·r/|ĥ|² ≈ x + e has Var(e) = 1/μ − 1 = s/|ĥ|², the effective noise variance returned
    (for LLR demapping). Returns (x̂ complex64, var float32).
    """
    gain = (h_hat.real**2 + h_hat.imag**2).clamp_min(1e-12)
    s = no + err_var
    y = r * h_hat.conj() / gain
    var = (s / gain).clamp_max(1e12)
    return y, var.to(torch.float32)
