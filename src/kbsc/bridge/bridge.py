"""The bridge: the one channel service every system transmits through (DESIGN.md §2).

``Bridge.transmit(x [B, k], image_ids [B], snr_db)`` places image b's k symbols on the data REs of
ceil(k / D) consecutive slots (fixed frequency-first order), inserts unit-power pilots, applies the
channel and the noise of each (seed, image id, slot) key, estimates the channel (``csi``), equalizes
(unbiased LMMSE) and returns the equalized symbols in the order of x with their effective noise variance.
SNR = Es/N0 per data RE with E|x|² = 1 and E|h|² = 1, so N0 = 10^(−SNR/10); the unit noise of a key is
scaled by √N0.

The realization of a key (channel on every RE, unit noise on every RE, pilots included) is a pure function of
the key (:mod:`kbsc.bridge.streams`), so two systems sending through bridges with the same channel and seed
see identical channel and noise on identical REs. ``transmit`` is differentiable w.r.t. x.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kbsc.bridge.channels import CHANNELS, ChannelModel
from kbsc.bridge.estimation import CSI_MODES, ChannelEstimator, lmmse_equalize
from kbsc.bridge.export import ImportedChannel, export_realizations, load_realizations
from kbsc.bridge.fingerprint import fingerprint_of, slot_digest
from kbsc.bridge.grid import GridConfig, ResourceGrid
from kbsc.bridge.ids import as_ids
from kbsc.bridge.streams import CHANNEL, slot_generator, unit_noise
from kbsc.errors import ConfigError, DataError
from kbsc.util import Registry

__all__ = ["EQUALIZERS", "SNR_RANGE_DB", "Bridge", "BridgeOutput", "make_bridge"]

SNR_RANGE_DB = (-50.0, 100.0)

EQUALIZERS: Registry[Callable[..., tuple[torch.Tensor, torch.Tensor]]] = Registry("equalizer")
EQUALIZERS.add("lmmse", lmmse_equalize)


class BridgeOutput:
    """What the receiver front end hands to a system's decoder.

    y:           complex64 ``[B, k]`` equalized symbols in the order of x (≈ x + e)
    noise_var:   float32 ``[B, k]`` Var(e), the effective post-equalization noise variance
    fingerprint: realization fingerprint of the keys this batch used (computed on first access, so
                 training loops that never read it do not pay for hashing)
    num_slots:   slots per image
    """

    def __init__(
        self,
        y: torch.Tensor,
        noise_var: torch.Tensor,
        fingerprint: str | Callable[[], str],
        num_slots: int,
    ) -> None:
        self.y, self.noise_var, self.num_slots = y, noise_var, int(num_slots)
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> str:
        if callable(self._fingerprint):
            self._fingerprint = self._fingerprint()
        return self._fingerprint

    def __repr__(self) -> str:
        return f"BridgeOutput(y={tuple(self.y.shape)}, num_slots={self.num_slots})"


def _as_grid(grid: GridConfig | dict[str, Any] | None) -> GridConfig:
    if grid is None:
        return GridConfig()
    if isinstance(grid, GridConfig):
        return grid
    if isinstance(grid, dict):
        try:
            return GridConfig(**grid)
        except TypeError as exc:
            raise ConfigError(f"grid settings not understood: {exc}") from None
    raise ConfigError(f"grid must be a GridConfig or a mapping, got {type(grid).__name__}")


class Bridge:
    """One channel service: (channel model, CSI mode, master seed, grid, equalizer).

    channel: a name in ``CHANNELS`` (or a :class:`ChannelModel` class); csi: a name in ``CSI_MODES``;
    channel_kwargs go to the model (e.g. ``delay_spread``, ``speed``, ``carrier_frequency`` for TDL).
    ``cache_slots`` realizations are kept (LRU). ``source``: the :class:`Realizations` of an imported bridge.
    """

    def __init__(
        self,
        channel: str | type[ChannelModel] = "awgn",
        csi: str = "perfect",
        seed: int = 0,
        grid: GridConfig | dict[str, Any] | None = None,
        equalizer: str = "lmmse",
        cache_slots: int = 2048,
        **channel_kwargs: Any,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        if not 0 <= int(seed) < 2**64:
            raise ConfigError(f"seed must be in 0 … 2^64-1, got {seed}")
        self.seed = int(seed)
        model_cls = channel if isinstance(channel, type) else CHANNELS.get(str(channel))
        self.channel = model_cls.name if isinstance(channel, type) else str(channel)
        self.csi = str(csi)
        self.equalizer = str(equalizer)
        self.grid = _as_grid(grid)
        self.rg: ResourceGrid = self.grid.build()
        try:
            self.model: ChannelModel = model_cls(self.rg, **channel_kwargs)
        except TypeError as exc:
            raise ConfigError(f"channel {self.channel!r}: bad option(s): {exc}") from None
        self.estimator: ChannelEstimator = CSI_MODES.get(self.csi)(self.rg, self.model)
        self._equalize = EQUALIZERS.get(self.equalizer)
        self.cache_slots = int(cache_slots)
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._digests: dict[tuple[int, int], int] = {}
        self._imported: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None
        self.source: Any = None
        self._tag = json.dumps(self.channel_config(), sort_keys=True).encode()
        self._data_index = torch.from_numpy(self.rg.data_index)
        self._pilot_index = torch.from_numpy(self.rg.pilot_index)
        self._pilots = torch.from_numpy(self.rg.pilot_values.astype(np.complex64))

    # ----------------------------------------------------------------------------------------- description
    def channel_config(self) -> dict[str, Any]:
        """What determines the realizations: seed, channel model and its options, grid."""
        return {
            "seed": self.seed,
            "channel": self.channel,
            "channel_options": self.model.options(),
            "grid": self.grid.to_dict(),
        }

    def config(self) -> dict[str, Any]:
        """The full configuration (realizations + receiver)."""
        return {**self.channel_config(), "csi": self.csi, "equalizer": self.equalizer}

    @property
    def data_res_per_slot(self) -> int:
        return self.rg.data_res_per_slot

    def num_slots(self, k: int) -> int:
        """Slots per image carrying ``k`` data symbols: ceil(k / data REs per slot)."""
        k = int(k)
        if k <= 0:
            raise ConfigError(f"an image needs at least one channel use (data RE), got k={k}")
        return self.rg.num_slots(k)

    def __repr__(self) -> str:
        return f"Bridge(channel={self.channel!r}, csi={self.csi!r}, seed={self.seed}, grid={self.grid})"

    # ------------------------------------------------------------------------------------- realizations
    def _slot(self, image_id: int, slot: int) -> tuple[np.ndarray, np.ndarray]:
        key = (image_id, slot)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        if self._imported is not None:
            try:
                hit = self._imported[key]
            except KeyError:
                where = self.source.path if self.source is not None else "the imported realizations"
                raise DataError(
                    f"{where} holds no image id {image_id} slot {slot}: export the images this cell sends"
                ) from None
        else:
            gen = slot_generator(self.seed, image_id, slot, CHANNEL) if self.model.random else None
            h = self.model.slot_response(gen)
            n = unit_noise(self.seed, image_id, slot, self.rg.shape)
            hit = (h.astype(np.complex64), n)
        self._cache[key] = hit
        if len(self._cache) > self.cache_slots:
            self._cache.popitem(last=False)
        return hit

    def realize_numpy(self, image_ids: Any, num_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`realize` but numpy complex64 arrays ``[B, S, T, F]``."""
        ids = as_ids(image_ids)
        s_count = int(num_slots)
        if s_count <= 0:
            raise ConfigError(f"num_slots must be ≥ 1, got {num_slots}")
        t, f = self.rg.shape
        h = np.empty((len(ids), s_count, t, f), dtype=np.complex64)
        n = np.empty_like(h)
        for b, i in enumerate(ids.tolist()):
            for s in range(s_count):
                h[b, s], n[b, s] = self._slot(i, s)
        return h, n

    def realize(self, image_ids: Any, num_slots: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel and unit noise of slots 0 … num_slots−1 of each image.

        Returns h complex64 ``[B, S, num_ofdm_symbols, num_subcarriers]`` (frequency response) and n complex64
        of the same shape (unit-variance noise, on all REs including pilots).
        """
        h, n = self.realize_numpy(image_ids, num_slots)
        return torch.from_numpy(h), torch.from_numpy(n)

    def fingerprint(self, image_ids: Any, k: int) -> str:
        """Fingerprint of the realizations images ``image_ids`` with ``k`` symbols each use (any batching)."""
        ids = as_ids(image_ids)
        s_count = self.num_slots(k)
        keys: dict[tuple[int, int], int] = {}
        for i in ids.tolist():
            for s in range(s_count):
                key = (i, s)
                digest = self._digests.get(key)
                if digest is None:
                    h, n = self._slot(i, s)
                    digest = slot_digest(self._tag, i, s, h, n)
                    if len(self._digests) >= (1 << 20):
                        self._digests.clear()
                    self._digests[key] = digest
                keys[key] = digest
        return fingerprint_of(keys)

    # ----------------------------------------------------------------------------------------- transmit
    def _check_snr(self, snr_db: Any, batch: int) -> torch.Tensor:
        snr = torch.as_tensor(snr_db.detach().cpu() if isinstance(snr_db, torch.Tensor) else snr_db)
        if snr.is_complex() or snr.dtype == torch.bool:
            raise ConfigError(f"snr_db must be real, got dtype {snr.dtype}")
        snr = snr.to(torch.float64).reshape(-1)
        if snr.numel() == 1:
            snr = snr.expand(batch)
        elif snr.numel() != batch:
            raise ConfigError(
                f"snr_db must be one number or one per image ({batch}), got {snr.numel()} values"
            )
        lo, hi = SNR_RANGE_DB
        if snr.numel() and (not bool(torch.isfinite(snr).all()) or bool(((snr < lo) | (snr > hi)).any())):
            bad = snr[~(torch.isfinite(snr) & (snr >= lo) & (snr <= hi))][0].item()
            raise ConfigError(f"SNR must be a finite number of dB in [{lo:g}, {hi:g}], got {bad}")
        return snr

    def _check_x(self, x: Any) -> tuple[int, int]:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.complex64 or x.dim() != 2:
            desc = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ConfigError(f"x must be a torch.complex64 tensor [batch, k], got {desc}")
        batch, k = x.shape
        if k == 0:
            raise ConfigError("x has zero symbols per image (k = 0); an image needs at least one data RE")
        return batch, k

    def _front_end(
        self, ids: np.ndarray, k: int, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, int]:
        """Channel and unit noise at the k data REs, and (unless raw) ĥ and its error variance, ``[B, k]``."""
        batch = len(ids)
        s_count = self.num_slots(k)
        if self.source is not None and s_count > self.source.num_slots:
            raise DataError(
                f"{self.source.path} holds {self.source.num_slots} slot(s) per image (k={self.source.k}); "
                f"k={k} symbols need {s_count}: export for the largest k (CBR) of the grid"
            )
        d = self.rg.data_res_per_slot
        h_np, n_np = self.realize_numpy(ids, s_count)
        res = self.rg.res_per_slot
        h = torch.from_numpy(h_np).reshape(batch, s_count, res)  # [B, S, T·F]
        n = torch.from_numpy(n_np).reshape(batch, s_count, res)

        def data(a: torch.Tensor) -> torch.Tensor:
            return a[:, :, self._data_index].reshape(batch, s_count * d)[:, :k]

        if not self.model.equalize:
            return data(h), data(n), None, None, s_count
        need = min(k, d)
        h_ls = None
        if self.estimator.needs_pilots:
            p = self._pilots
            sq_no = no.sqrt().reshape(batch, 1, 1)
            r_p = h[:, :, self._pilot_index] * p + sq_no * n[:, :, self._pilot_index]
            h_ls = r_p * p.conj()  # LS estimates at the pilots, [B, S, P]
        h_hat, err = self.estimator.estimate(h_ls, no, h[:, :, self._data_index[:need]])
        err = err.expand(batch, s_count, need)
        if s_count > 1:
            h_hat = h_hat.reshape(batch, s_count * d)[:, :k]
            err = err.reshape(batch, s_count * d)[:, :k]
        else:
            h_hat, err = h_hat[:, :, :k].reshape(batch, k), err[:, :, :k].reshape(batch, k)
        return data(h), data(n), h_hat, err, s_count

    def transmit(self, x: torch.Tensor, image_ids: Any, snr_db: Any) -> BridgeOutput:
        """Send x complex64 ``[B, k]`` (E|x|² = 1) of images ``image_ids`` ``[B]`` at ``snr_db`` (float or
        ``[B]``). Returns :class:`BridgeOutput` (y, noise_var ``[B, k]``, fingerprint)."""
        batch, k = self._check_x(x)
        ids = as_ids(image_ids)
        if len(ids) != batch:
            raise ConfigError(f"{len(ids)} image ids for {batch} images in x; give one id per row of x")
        no = torch.pow(10.0, -self._check_snr(snr_db, batch) / 10.0).to(torch.float32)  # N0, [B]
        h_d, n_d, h_hat, err, s_count = self._front_end(ids, k, no)  # drawn on the CPU: same on any device
        if x.device.type != "cpu":  # the channel's arithmetic then runs where x lives (GPU, meta in tests)
            h_d, n_d, no = h_d.to(x.device), n_d.to(x.device), no.to(x.device)
            if h_hat is not None:
                h_hat, err = h_hat.to(x.device), err.to(x.device)
        no_col = no.reshape(batch, 1)
        r = h_d * x + no_col.sqrt() * n_d  # received data REs, [B, k]
        if h_hat is None:  # the authors' channels: raw y, noise_var = N0
            y, var = r, no_col.expand(batch, k).contiguous()
        else:
            y, var = self._equalize(r, h_hat, err, no_col)
        return BridgeOutput(y, var, lambda: self.fingerprint(ids, k), s_count)

    def channel_estimate(
        self, image_ids: Any, k: int, snr_db: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The receiver's view of the data REs: true h, estimate ĥ (complex64) and ĥ's error variance
        (float32), each ``[B, k]``, exactly as :meth:`transmit` computes them (for diagnostics and tests)."""
        ids = as_ids(image_ids)
        no = torch.pow(10.0, -self._check_snr(snr_db, len(ids)) / 10.0).to(torch.float32)
        h_d, _, h_hat, err, _ = self._front_end(ids, int(k), no)
        if h_hat is None:
            raise ConfigError(f"channel {self.channel!r} has no channel estimation (raw output)")
        return h_d, h_hat, err

    # ----------------------------------------------------------------------------------- export/import
    def export(self, path: str | Path, image_ids: Any, k: int) -> Path:
        """Write the realizations of ``image_ids`` (k symbols each) to ``path`` (.npz, or .h5/.hdf5); see
        :mod:`kbsc.bridge.export` for the schema."""
        return export_realizations(self, path, image_ids, k)

    @classmethod
    def from_export(cls, path: str | Path, csi: str | None = None) -> Bridge:
        """A bridge that transmits from the realizations in an export file (optionally another CSI mode).

        It draws nothing and refuses keys the file does not hold. A channel this kbsc does not know (a plug-in
        that is not loaded) is fine: the LMMSE estimator then uses the file's empirical covariance."""
        rec = load_realizations(path)
        cfg = rec.config
        try:
            known = cfg["channel"] in CHANNELS
            kw = dict(cfg.get("channel_options", {})) if known else {"realizations": rec}
            bridge = cls(
                channel=cfg["channel"] if known else ImportedChannel,
                csi=csi or cfg["csi"],
                seed=int(cfg["seed"]),
                grid=cfg["grid"],
                equalizer=cfg.get("equalizer", "lmmse"),
                **kw,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: configuration not understood ({exc})") from None
        rec.check_grid(bridge.rg, path)
        bridge.channel = str(cfg["channel"])
        bridge._tag = json.dumps(bridge.channel_config(), sort_keys=True).encode()
        bridge._imported = rec.slots()
        bridge.source = rec
        if rec.fingerprint and bridge.fingerprint(rec.image_ids, rec.k) != rec.fingerprint:
            raise DataError(
                f"{path}: realizations do not match their fingerprint {rec.fingerprint} (file altered?)"
            )
        return bridge


def make_bridge(channel: str, csi: str = "perfect", seed: int = 0, **kw: Any) -> Bridge:
    """Convenience constructor: ``Bridge(channel=…, csi=…, seed=…, **kw)``."""
    return Bridge(channel=channel, csi=csi, seed=seed, **kw)
