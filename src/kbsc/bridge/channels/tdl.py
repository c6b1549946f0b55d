"""3GPP TR 38.901 tapped-delay-line models ``tdl-a`` … ``tdl-e`` (§7.7.2, Tables 7.7.2-1 … 7.7.2-5).

Tap delays are the tables' normalized delays × ``delay_spread`` (§7.7.3, default 100 ns); tap powers are the
tables' dB values, normalized so that the powers sum to 1 (E|h|² = 1). The tables are read from the JSON
files that Sionna ships (``sionna/phy/channel/tr38901/models/v19_2``); tests check them against numbers typed
from the standard. For the LoS profiles D and E the first table row is the specular LoS path (K-factor
13.3 dB and 22 dB); its Doppler shift is ``los_doppler_factor · f_D`` (0.7 f_D, as in TS 38.101-4's TDL-D
test channels) with a uniformly random phase.

Each Rayleigh tap fades with the classical (Jakes) Doppler spectrum, f_D = speed · carrier / c, drawn per slot
as a sum of ``num_sinusoids`` complex sinusoids with Gaussian amplitudes CN(0, P/N) and uniform angles of
arrival: the tap is exactly CN(0, P) at any instant and its time correlation is J0(2π f_D Δt) on average over
the angles. The slot's frequency response on subcarrier f and OFDM symbol t is
H[t, f] = Σ_p g_p(t)·e^{-j2π f τ_p}.
"""

from __future__ import annotations

import importlib.util
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import j0

from kbsc.bridge.channels.base import CHANNELS, ChannelModel
from kbsc.bridge.grid import ResourceGrid
from kbsc.errors import ConfigError

__all__ = ["TDL", "TDLProfile", "tdl_profile"]

SPEED_OF_LIGHT = 299_792_458.0
TABLE_VERSION = "v19_2"


class TDLProfile:
    """One TR 38.901 TDL table: normalized delays, powers in dB, and whether row 0 is a LoS path."""

    def __init__(self, name: str, delays: list[float], powers_db: list[float], los: bool) -> None:
        self.name = name
        self.normalized_delays = np.asarray(delays, dtype=np.float64)
        self.powers_db = np.asarray(powers_db, dtype=np.float64)
        self.los = bool(los)

    @property
    def k_factor_db(self) -> float | None:
        """Ricean K-factor of the first tap (LoS power over the Rayleigh power at delay 0)."""
        if not self.los:
            return None
        return float(self.powers_db[0] - self.powers_db[1])

    @property
    def powers(self) -> np.ndarray:
        """Linear powers normalized to sum 1."""
        p = 10.0 ** (self.powers_db / 10.0)
        return p / p.sum()


def _models_dir() -> Path:
    spec = importlib.util.find_spec("sionna")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("TDL models need the TR 38.901 tables shipped with sionna-no-rt; install it")
    return Path(next(iter(spec.submodule_search_locations))) / "phy" / "channel" / "tr38901" / "models"


@cache
def tdl_profile(letter: str) -> TDLProfile:
    """The TDL table ``letter`` ('A' … 'E')."""
    path = _models_dir() / TABLE_VERSION / f"TDL-{letter.upper()}.json"
    try:
        params = json.loads(path.read_text())
    except OSError:
        raise ConfigError(
            f"TR 38.901 table {path} not found (sionna-no-rt installation incomplete?)"
        ) from None
    return TDLProfile(f"TDL-{letter.upper()}", params["delays"], params["powers"], bool(params["los"]))


class TDL(ChannelModel):
    """A TDL model on a resource grid (see the module docstring).

    delay_spread: RMS delay spread in s (default 100 ns); speed: UE speed in m/s (default 3);
    carrier_frequency: Hz (default 3.5 GHz); num_sinusoids: sinusoids per tap (default 8);
    los_doppler_factor: LoS Doppler shift as a fraction of f_D (default 0.7).
    """

    letter = ""

    def __init__(
        self,
        rg: ResourceGrid,
        delay_spread: float = 100e-9,
        speed: float = 3.0,
        carrier_frequency: float = 3.5e9,
        num_sinusoids: int = 8,
        los_doppler_factor: float = 0.7,
    ) -> None:
        super().__init__(rg)
        checks = {
            "delay_spread": (delay_spread, 0.0, 1e-4),
            "speed": (speed, 0.0, 1000.0),
            "carrier_frequency": (carrier_frequency, 1e6, 1e12),
            "num_sinusoids": (num_sinusoids, 1, 1024),
            "los_doppler_factor": (los_doppler_factor, -1.0, 1.0),
        }
        for key, (v, lo, hi) in checks.items():
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or not lo <= v <= hi
            ):
                raise ConfigError(
                    f"channel {self.name!r}: {key} must be a number in [{lo:g}, {hi:g}], got {v!r}"
                )
        self.delay_spread = float(delay_spread)
        self.speed = float(speed)
        self.carrier_frequency = float(carrier_frequency)
        self.num_sinusoids = int(num_sinusoids)
        self.los_doppler_factor = float(los_doppler_factor)
        self.profile = tdl_profile(self.letter)
        self.delays = self.profile.normalized_delays * self.delay_spread  # [P] seconds
        self.powers = self.profile.powers  # [P], sums to 1
        self.doppler = self.speed * self.carrier_frequency / SPEED_OF_LIGHT  # max Doppler f_D, Hz
        f = rg.subcarrier_frequencies
        self._steering = np.exp(-2j * np.pi * self.delays[:, None] * f[None, :])  # [P, F]
        self._t = rg.symbol_times  # [T]
        self._dt = float(self._t[1] - self._t[0]) if len(self._t) > 1 else 0.0
        p0 = 1 if self.profile.los else 0
        self._rayleigh_amp = np.sqrt(self.powers[p0:] / self.num_sinusoids)  # [P - p0]

    @property
    def k_factor_db(self) -> float | None:
        return self.profile.k_factor_db

    def options(self) -> dict[str, Any]:
        return {
            "delay_spread": self.delay_spread,
            "speed": self.speed,
            "carrier_frequency": self.carrier_frequency,
            "num_sinusoids": self.num_sinusoids,
            "los_doppler_factor": self.los_doppler_factor,
        }

    def tap_gains(self, gen: np.random.Generator) -> np.ndarray:
        """complex128 ``[T, P]``: every tap's gain at the start of every OFDM symbol of one slot."""
        n_ray, n_sin = len(self._rayleigh_amp), self.num_sinusoids
        z = gen.standard_normal((2, n_ray, n_sin))
        amp = (z[0] + 1j * z[1]) * (np.sqrt(0.5) * self._rayleigh_amp[:, None])  # [Pr, N]
        angle = gen.random((n_ray, n_sin)) * (2.0 * np.pi)
        w = 2.0 * np.pi * self.doppler * np.cos(angle)  # [Pr, N] rad/s
        # e^{j w t_l} = (e^{j w Δ})^l, Δ the OFDM symbol duration (t_l = l·Δ): powers by cumulative product
        step = np.exp(1j * self._dt * w)  # [Pr, N]
        rot = np.cumprod(np.broadcast_to(step, (len(self._t) - 1, *step.shape)), axis=0)
        g = np.empty((len(self._t), n_ray), dtype=np.complex128)
        g[0] = amp.sum(axis=-1)
        g[1:] = (rot * amp[None]).sum(axis=-1)  # [T, Pr]
        if self.profile.los:
            phase = gen.random() * (2.0 * np.pi)
            w_los = 2.0 * np.pi * self.los_doppler_factor * self.doppler
            los = np.sqrt(self.powers[0]) * np.exp(1j * (phase + w_los * self._t))  # [T]
            g = np.concatenate([los[:, None], g], axis=1)
        return g

    def slot_response(self, gen: np.random.Generator) -> np.ndarray:
        return self.tap_gains(gen) @ self._steering  # [T, P] @ [P, F]

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dt = self._t[a[:, 0]][:, None] - self._t[b[:, 0]][None, :]  # [n, m]
        df = (
            self.rg.subcarrier_frequencies[a[:, 1]][:, None]
            - self.rg.subcarrier_frequencies[b[:, 1]][None, :]
        )
        out = np.zeros(dt.shape, dtype=np.complex128)
        ray_time = j0(2.0 * np.pi * self.doppler * dt)
        for p, (tau, pw) in enumerate(zip(self.delays, self.powers, strict=True)):
            if p == 0 and self.profile.los:
                time = np.exp(2j * np.pi * self.los_doppler_factor * self.doppler * dt)
            else:
                time = ray_time
            out += pw * time * np.exp(-2j * np.pi * tau * df)
        return out


def _make(letter: str) -> type[TDL]:
    cls = type(f"TDL{letter}", (TDL,), {"name": f"tdl-{letter.lower()}", "letter": letter})
    cls.__doc__ = f"TR 38.901 TDL-{letter} (Table 7.7.2-{'ABCDE'.index(letter) + 1})."
    return CHANNELS.register(f"tdl-{letter.lower()}")(cls)


TDLA, TDLB, TDLC, TDLD, TDLE = (_make(c) for c in "ABCDE")
