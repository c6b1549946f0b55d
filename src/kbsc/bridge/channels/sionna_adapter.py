"""Any Sionna 2.x channel model that produces channel impulse responses, through the bridge with keyed
realizations: ``cdl-a`` … ``cdl-e``, ``sionna-tdl-a`` … ``sionna-tdl-e``, ``umi``, ``uma``, ``rma``.

Every Sionna block draws from the process-wide generator ``sionna.phy.config.torch_rng(device)`` (the
``torch_rng`` property of ``sionna.phy.object.Object`` returns it, for nested objects too). For each key
(seed, image id, slot) the adapter draws a 63-bit torch seed from the slot's keyed Philox stream, seeds that
generator with it, asks the model for ONE slot (batch size 1, ``T`` time steps at the OFDM symbol rate, so
time step t is the start of OFDM symbol t) and restores the generator's previous state. A realization is
therefore a pure function of the key, whatever the batch, order, process or backend, and other Sionna users in
the process keep their random stream. The impulse response (a, τ) becomes the slot's frequency response with
Sionna's ``cir_to_ofdm_channel`` at the grid's subcarrier frequencies.

Antennas: one transmit and one receive antenna with the omnidirectional pattern and vertical polarization,
so the channel is SISO (the bridge is single-stream).

Normalization: ``normalize="none"`` keeps the model's powers (TDL and CDL profiles have E|h|² = 1 by
construction); ``"slot"`` scales each slot to mean |h|² = 1 over its REs (the default of the system-level
models UMi/UMa/RMa, whose powers include O2I losses and LoS/NLoS states: with path loss and shadowing off
their mean power is 0.5–0.65, not 1; per-slot scaling keeps the small-scale fading only).

LMMSE estimation needs the channel covariance; the adapter estimates it once per model from
``covariance_slots`` draws of its own calibration keys (a fixed seed outside any experiment's), so it too is a
pure function of the configuration. The sampling error of that estimate makes LMMSE on these channels
slightly sub-optimal; the native ``tdl-*`` models have the exact covariance.

Bringing another Sionna model is one subclass: override :meth:`SionnaChannel.build_model` (and
:meth:`SionnaChannel.draw` if its call is not ``model(batch_size, num_time_steps, sampling_frequency)``),
register it in ``CHANNELS``; see the README.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from kbsc.bridge.channels.base import CHANNELS, ChannelModel
from kbsc.bridge.grid import ResourceGrid
from kbsc.bridge.streams import CHANNEL, slot_generator
from kbsc.errors import ConfigError

__all__ = ["SionnaCDL", "SionnaChannel", "SionnaSystemLevel", "SionnaTDL", "keyed_sionna_rng"]

CALIBRATION_SEED = (1 << 64) - 17  # seed of the covariance calibration keys, never an experiment's
_RNG_LOCK = threading.RLock()


@contextmanager
def keyed_sionna_rng(seed: int, device: str = "cpu"):
    """Seed Sionna's generator of ``device`` with ``seed`` for the block, then restore its state."""
    from sionna.phy import config

    with _RNG_LOCK:
        gen = config.torch_rng(device)
        state = gen.get_state()
        gen.manual_seed(int(seed))
        try:
            yield gen
        finally:
            gen.set_state(state)


def _number(name: str, key: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ConfigError(f"channel {name!r}: {key} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


class SionnaChannel(ChannelModel):
    """A Sionna CIR model on the bridge's grid (see the module docstring).

    delay_spread: RMS delay spread in s; speed: UE speed in m/s; carrier_frequency: Hz; normalize: ``"none"``
    or ``"slot"``; covariance_slots: calibration draws for the LMMSE covariance; model_options: the Sionna
    model's own keyword arguments (JSON values), passed to :meth:`build_model`.
    """

    backend: ClassVar[str] = "sionna"
    default_normalize: ClassVar[str] = "none"
    device: ClassVar[str] = "cpu"
    #: build a new Sionna model for every slot (for models that keep state between calls)
    fresh_model_per_slot: ClassVar[bool] = False

    def __init__(
        self,
        rg: ResourceGrid,
        delay_spread: float = 100e-9,
        speed: float = 3.0,
        carrier_frequency: float = 3.5e9,
        normalize: str | None = None,
        covariance_slots: int = 256,
        **model_options: Any,
    ) -> None:
        super().__init__(rg)
        self.delay_spread = _number(self.name, "delay_spread", delay_spread, 0.0, 1e-4)
        self.speed = _number(self.name, "speed", speed, 0.0, 1000.0)
        self.carrier_frequency = _number(self.name, "carrier_frequency", carrier_frequency, 1e6, 1e12)
        self.normalize = self.default_normalize if normalize is None else str(normalize)
        if self.normalize not in ("none", "slot"):
            raise ConfigError(f"channel {self.name!r}: normalize must be 'none' or 'slot', got {normalize!r}")
        self.covariance_slots = int(_number(self.name, "covariance_slots", covariance_slots, 16, 1 << 16))
        for key, v in model_options.items():
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise ConfigError(
                    f"channel {self.name!r}: option {key} must be a number or a string, got {v!r}"
                )
        self.model_options = dict(model_options)
        try:
            self.sionna_model = self.build_model(**self.model_options)
        except (TypeError, ValueError, AssertionError) as exc:
            raise ConfigError(f"channel {self.name!r}: Sionna refused the options: {exc}") from None

    # ---------------------------------------------------------------------------------- for subclasses
    def build_model(self, **model_options: Any) -> Any:
        """The Sionna model (built once per bridge); ``self.delay_spread`` etc. are set."""
        raise NotImplementedError

    def draw(self, model: Any, num_time_steps: int, sampling_frequency: float) -> tuple[Any, Any]:
        """One slot's impulse response (a, τ) with batch size 1 from Sionna's (already keyed) generator."""
        return model(1, num_time_steps, sampling_frequency)

    def antenna(self) -> Any:
        """One omnidirectional, vertically polarized antenna (a 1×1 ``PanelArray``)."""
        from sionna.phy.channel.tr38901 import PanelArray

        return PanelArray(
            num_rows_per_panel=1,
            num_cols_per_panel=1,
            polarization="single",
            polarization_type="V",
            antenna_pattern="omni",
            carrier_frequency=self.carrier_frequency,
            device=self.device,
        )

    # ----------------------------------------------------------------------------------- the contract
    def options(self) -> dict[str, Any]:
        return {
            "delay_spread": self.delay_spread,
            "speed": self.speed,
            "carrier_frequency": self.carrier_frequency,
            "normalize": self.normalize,
            "covariance_slots": self.covariance_slots,
            **self.model_options,
        }

    @cached_property
    def _frequencies(self) -> Any:
        import torch

        return torch.as_tensor(self.rg.subcarrier_frequencies, dtype=torch.float32)

    @property
    def _symbol_rate(self) -> float:
        c = self.rg.config
        return c.num_subcarriers * c.subcarrier_spacing / (c.num_subcarriers + c.cyclic_prefix_length)

    def response_of_seed(self, seed: int) -> np.ndarray:
        """complex128 ``[T, F]``: the slot drawn with Sionna's generator seeded by ``seed``."""
        import torch
        from sionna.phy.channel import cir_to_ofdm_channel

        t, f = self.rg.shape
        with torch.no_grad(), keyed_sionna_rng(seed, self.device):
            model = self.build_model(**self.model_options) if self.fresh_model_per_slot else self.sionna_model
            a, tau = self.draw(model, t, self._symbol_rate)
            h = cir_to_ofdm_channel(self._frequencies, a, tau, normalize=False)
        h = h.reshape(-1, t, f)[0].cpu().numpy().astype(np.complex128)
        if self.normalize == "slot":
            h /= np.sqrt(max(float(np.mean(np.abs(h) ** 2)), 1e-30))
        return h

    def slot_response(self, gen: np.random.Generator) -> np.ndarray:
        return self.response_of_seed(int(gen.integers(0, 1 << 63)))

    @cached_property
    def empirical_covariance(self) -> np.ndarray:
        """complex128 ``[T·F, T·F]``: E[h hᴴ] over ``covariance_slots`` calibration keys."""

        hs = np.empty((self.covariance_slots, self.rg.res_per_slot), dtype=np.complex128)
        for i in range(self.covariance_slots):
            hs[i] = self.slot_response(slot_generator(CALIBRATION_SEED, i, 0, CHANNEL)).reshape(-1)
        return hs.T @ hs.conj() / len(hs)

    def covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        f = self.rg.num_subcarriers
        r = self.empirical_covariance
        return r[np.ix_(a[:, 0] * f + a[:, 1], b[:, 0] * f + b[:, 1])]


class SionnaTDL(SionnaChannel):
    """Sionna's ``tr38901.TDL`` (``model``: the profile letter of the registered name, or any Sionna TDL
    model name such as ``"A30"``)."""

    letter: ClassVar[str] = "A"

    def build_model(self, model: str | None = None, **kw: Any) -> Any:
        from sionna.phy.channel.tr38901 import TDL

        return TDL(
            model or self.letter,
            delay_spread=self.delay_spread,
            carrier_frequency=self.carrier_frequency,
            min_speed=self.speed,
            max_speed=self.speed,
            device=self.device,
            **kw,
        )


class SionnaCDL(SionnaChannel):
    """Sionna's ``tr38901.CDL`` with 1×1 omnidirectional antennas (``direction``: downlink by default)."""

    letter: ClassVar[str] = "A"

    def build_model(self, direction: str = "downlink", **kw: Any) -> Any:
        from sionna.phy.channel.tr38901 import CDL

        ant = self.antenna()
        return CDL(
            self.letter,
            self.delay_spread,
            self.carrier_frequency,
            ut_array=ant,
            bs_array=ant,
            direction=direction,
            min_speed=self.speed,
            max_speed=self.speed,
            device=self.device,
            **kw,
        )


class SionnaSystemLevel(SionnaChannel):
    """Sionna's UMi/UMa/RMa with one BS and one UT dropped per slot by ``gen_single_sector_topology``
    (moving at ``speed``), path loss and shadow fading off; ``delay_spread`` is not used (the scenario's
    large-scale parameters set it)."""

    default_normalize: ClassVar[str] = "slot"
    scenario: ClassVar[str] = "umi"
    fresh_model_per_slot: ClassVar[bool] = True  # a model re-used across topologies keeps state of the last

    def build_model(self, direction: str = "downlink", **kw: Any) -> Any:
        from sionna.phy.channel import tr38901

        cls = {"umi": tr38901.UMi, "uma": tr38901.UMa, "rma": tr38901.RMa}[self.scenario]
        if self.scenario != "rma":
            kw.setdefault("o2i_model", "low")
        ant = self.antenna()
        return cls(
            carrier_frequency=self.carrier_frequency,
            ut_array=ant,
            bs_array=ant,
            direction=direction,
            enable_pathloss=False,
            enable_shadow_fading=False,
            device=self.device,
            **kw,
        )

    def draw(self, model: Any, num_time_steps: int, sampling_frequency: float) -> tuple[Any, Any]:
        from sionna.phy.channel import gen_single_sector_topology

        topology = gen_single_sector_topology(
            1, 1, self.scenario, min_ut_velocity=self.speed, max_ut_velocity=self.speed, device=self.device
        )
        model.set_topology(*topology, los="random")  # a fresh LoS state (None would reuse the last one)
        return model(num_time_steps, sampling_frequency)


def _register(base: type[SionnaChannel], name: str, doc: str, **attrs: Any) -> type[SionnaChannel]:
    cls = type(name.replace("-", "_").upper(), (base,), {"name": name, "__doc__": doc, **attrs})
    return CHANNELS.register(name)(cls)


for _c in "ABCDE":
    _register(SionnaCDL, f"cdl-{_c.lower()}", f"TR 38.901 CDL-{_c} via Sionna (1×1 antennas).", letter=_c)
    _register(SionnaTDL, f"sionna-tdl-{_c.lower()}", f"Sionna's own TR 38.901 TDL-{_c}.", letter=_c)
for _s in ("umi", "uma", "rma"):
    _register(SionnaSystemLevel, _s, f"Sionna's {_s.upper()} scenario, SISO, one drop per slot.", scenario=_s)
