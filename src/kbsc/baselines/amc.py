"""``hevc+ldpc-amc``: realizable link adaptation — per image the receiver picks the MCS from what it knows.

1. **Channel knowledge.** The receiver's estimate of the image's own data REs over its slot(s): ĥ_i and the
   estimation-error variance e_i from the bridge's estimator (``csi``; with ``perfect`` ĥ = h, e = 0), and N0.
   Per RE the post-equalization SINR is γ_i = |ĥ_i|² / (N0 + e_i) — the inverse of the effective noise
   variance the LMMSE equalizer hands the demapper (:func:`kbsc.bridge.estimation.lmmse_equalize`). The true
   channel is never read. (Zero feedback delay: the MCS is chosen on the estimate of the very slots it is
   sent on, an idealization of CSI reporting, not of the estimate.)
2. **Effective SNR (MIESM).** γ_eff(Qm) = I_Qm⁻¹( (1/k) Σ_i I_Qm(γ_i) ), with I_Qm the mutual information
   (bits per symbol) of the MCS's square Gray QAM with equiprobable inputs on AWGN (coded-modulation MI).
   MIESM: Brueninghaus, Astély, Sälzer, Visuri, Alexiou, Karger, Seraji, "Link performance models for system
   level simulations of broadband radio access systems", IEEE PIMRC 2005; the same mapping as the RBIR
   of the IEEE 802.16m Evaluation Methodology Document. It has no per-MCS tuning parameter (EESM's β would
   have to be fitted per MCS on fading BLER curves), and for a flat channel it returns the plain SNR.
   I_Qm of square M-QAM is twice the MI of √M-PAM at the same SNR (independent I and Q), computed by
   Gauss–Hermite quadrature on a 0.05 dB grid and interpolated linearly in dB (its inverse uses the same
   nodes, so I⁻¹(I(γ)) = γ exactly on the grid's span).
3. **Thresholds.** The highest MCS of ``mcs_set`` whose AWGN threshold for the BLER target (option
   ``bler_target``, default 0.1) at the cell's k is ≤ γ_eff(Qm of that MCS); thresholds come from the link's
   own AWGN BLER curves (:mod:`kbsc.nrlink.amc_calibration`, ``amc_thresholds.json``). If no MCS
   qualifies, the lowest MCS of the set is used (a link keeps transmitting with its most robust format).
4. **One link per image**: images are grouped by their MCS and each group runs through the fixed-MCS pipeline
   (:meth:`BaselineRunner.run_fixed`) on its own realizations.

Options: those of ``hevc+ldpc`` (codec, failure, decoder, num_iter, mcs_table, codec_options; the decoder
defaults to the one the thresholds were measured with, and another one is refused) plus
``mcs_set`` (default: the genie envelope's set, so that the two are comparable), ``bler_target``,
``thresholds`` (path of a threshold table; default: the committed one) and ``margin_db`` (a fixed back-off
added to every threshold, default 0 — a static stand-in for the outer-loop correction real links make from
ACK/NACKs, useful with the LS estimators whose error variance leaves out interpolation errors).
Extra per-image outcomes: ``mcs_used``, ``snr_eff_db`` (γ_eff of the chosen MCS's modulation).
"""

from __future__ import annotations

import time
from collections import defaultdict
from functools import lru_cache

import numpy as np

from kbsc.baselines.cache import image_key
from kbsc.baselines.pipeline import CellResult
from kbsc.baselines.system import _RUNNER_OPTIONS, DEFAULT_MCS_SET, ConventionalSystem
from kbsc.errors import ConfigError
from kbsc.nrlink.amc_calibration import ThresholdTable, load_thresholds
from kbsc.nrlink.harq import HarqResult
from kbsc.nrlink.mcs import mcs_entry
from kbsc.nrlink.olla import OuterLoop
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, Outcomes

__all__ = [
    "DEFAULT_AMC_MCS_SET",
    "HevcLdpcAmcSystem",
    "choose_mcs",
    "effective_snr_db",
    "qam_mutual_information",
    "receiver_sinr",
]

DEFAULT_AMC_MCS_SET = DEFAULT_MCS_SET
#: ``mcs_set: full``: every MCS of table 1 below 28 (the issue's 0 … 27; 28 is 64QAM at R = 948/1024)
FULL_MCS_SET = tuple(range(28))
_GRID_DB = np.round(np.arange(-20.0, 40.0 + 1e-9, 0.05), 2)
_GH_NODES = 32


@lru_cache(maxsize=8)
def _mi_table(qm: int) -> tuple[np.ndarray, np.ndarray]:
    """(SNR grid in dB, I_Qm in bits per symbol) of square 2^qm-QAM; the part where I still increases."""
    if qm < 2 or qm % 2:
        raise ConfigError(f"MIESM needs a square QAM (even bits per symbol ≥ 2), got Qm={qm}")
    levels = 2 ** (qm // 2)
    a = np.arange(-(levels - 1), levels, 2, dtype=np.float64)
    a /= np.sqrt((a**2).mean())  # unit energy per dimension; per-dimension SNR = Es/N0
    t, w = np.polynomial.hermite.hermgauss(_GH_NODES)
    w = w / np.sqrt(np.pi)
    snr = 10.0 ** (_GRID_DB / 10.0)
    sigma = 1.0 / np.sqrt(snr)  # noise std per dimension, [G]
    n = np.sqrt(2.0) * sigma[:, None] * t[None, :]  # [G, T]
    d = a[:, None] - a[None, :]  # [L, L] transmitted j minus candidate l
    # log Σ_l exp(-((d_jl + n)² - n²) / (2σ²)), [G, L, T]
    e = -((d[None, :, :, None] + n[:, None, None, :]) ** 2 - n[:, None, None, :] ** 2)
    e /= 2.0 * sigma[:, None, None, None] ** 2
    lse = np.logaddexp.reduce(e, axis=2) / np.log(2.0)
    mi_pam = np.log2(levels) - (lse * w[None, None, :]).sum(-1).mean(-1)
    mi = 2.0 * np.clip(mi_pam, 0.0, np.log2(levels))
    inc = np.concatenate([[True], np.diff(mi) > 1e-12])
    last = int(np.argmin(inc)) if not inc.all() else len(inc)
    return _GRID_DB[:last].copy(), mi[:last].copy()


def qam_mutual_information(snr_db: np.ndarray, qm: int) -> np.ndarray:
    """I_Qm(γ) bits per symbol of square Gray 2^qm-QAM at Es/N0 ``snr_db`` (any shape)."""
    g, mi = _mi_table(int(qm))
    return np.interp(np.asarray(snr_db, dtype=np.float64), g, mi)


def effective_snr_db(sinr: np.ndarray, qm: int) -> np.ndarray:
    """MIESM: γ_eff in dB of per-RE SINRs ``sinr`` (linear) float ``[B, k]`` for 2^qm-QAM, ``[B]``."""
    g, mi = _mi_table(int(qm))
    s_db = 10.0 * np.log10(np.clip(np.asarray(sinr, dtype=np.float64), 1e-30, None))
    mean_mi = np.interp(s_db, g, mi).mean(axis=-1)
    return np.interp(mean_mi, mi, g)


def receiver_sinr(bridge, image_ids: np.ndarray, k: int, snr_db: float) -> np.ndarray:
    """γ_i = |ĥ_i|² / (N0 + e_i) float64 ``[B, k]`` from the receiver's estimate only (never the true h)."""
    _h_true, h_hat, err = bridge.channel_estimate(image_ids, k, snr_db)
    no = 10.0 ** (-float(snr_db) / 10.0)
    gain = h_hat.real.double() ** 2 + h_hat.imag.double() ** 2
    return (gain / (no + err.double())).numpy()


def choose_mcs(
    sinr: np.ndarray,
    k: int,
    mcs_set: list[int],
    table: ThresholdTable,
    target: float = 0.1,
    mcs_table: int = 1,
    margin_db: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per image the highest MCS of ``mcs_set`` whose threshold + ``margin_db`` ≤ its γ_eff (else the lowest).

    sinr: float ``[B, k]`` per-RE SINR (linear). Returns MCS int64 ``[B]`` and γ_eff of the chosen MCS's
    modulation in dB float64 ``[B]``.
    """

    order = sorted(set(int(m) for m in mcs_set))
    if not order:
        raise ConfigError("mcs_set must list at least one MCS index")
    qms = {m: mcs_entry(m, mcs_table).qm for m in order}
    eff = {q: effective_snr_db(sinr, q) for q in sorted(set(qms.values()))}
    n = np.asarray(sinr).shape[0]
    chosen = np.full(n, order[0], dtype=np.int64)
    for m in order:
        ok = eff[qms[m]] >= table.threshold(k, m, target, mcs_table) + margin_db
        chosen = np.where(ok, m, chosen)
    eff_chosen = np.array([eff[qms[int(m)]][i] for i, m in enumerate(chosen)], dtype=np.float64)
    return chosen, eff_chosen


@SYSTEMS.register("hevc+ldpc-amc")
class HevcLdpcAmcSystem(ConventionalSystem):
    """HEVC intra + one NR TB per image at the MCS its receiver picks (MIESM + AWGN thresholds)."""

    name = "hevc+ldpc-amc"
    allowed = _RUNNER_OPTIONS | {"mcs_set", "bler_target", "thresholds", "margin_db", "olla", "olla_step_db"}
    #: defaults of the options ``olla`` and ``mcs_set``
    default_olla = False
    default_mcs_set: tuple[int, ...] = DEFAULT_AMC_MCS_SET

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.olla = bool(self.options.get("olla", self.default_olla))
        self.olla_step_db = float(self.options.get("olla_step_db", 1.0))
        if not 0.0 < self.olla_step_db <= 10.0:
            raise ConfigError(f"olla_step_db must be in (0, 10] dB, got {self.olla_step_db}")
        target = float(self.options.get("bler_target", 0.1))
        if not 0.0 < target < 1.0:
            raise ConfigError(f"bler_target must be in (0, 1), got {target}")
        self.target = target
        self.margin_db = float(self.options.get("margin_db", 0.0))
        if not 0.0 <= self.margin_db <= 20.0:
            raise ConfigError(f"margin_db must be in 0 … 20 dB, got {self.margin_db}")
        mcs_set = self.options.get("mcs_set", self.default_mcs_set)
        if mcs_set == "full":
            mcs_set = FULL_MCS_SET
        if isinstance(mcs_set, str) or not mcs_set:
            raise ConfigError(f"mcs_set must list MCS indices or be 'full', got {mcs_set!r}")
        self.mcs_set = [int(m) for m in mcs_set]
        self.table = load_thresholds(self.options.get("thresholds"))
        # a BLER threshold belongs to the decoder it was measured with: decode with that one
        decoder = self.options.get("decoder")
        if decoder is None and len(self.table.decoders) == 1:
            self.options["decoder"] = self.table.decoders[0]
        elif decoder is not None and self.table.decoders and decoder not in self.table.decoders:
            raise ConfigError(
                f"the AMC thresholds in {self.table.source} were measured with LDPC decoder "
                f"{'/'.join(self.table.decoders)}, not {decoder!r}; drop the decoder option or calibrate "
                f"for it with `kbsc calibrate-amc --decoder {decoder}`"
            )
        mcs_table = int(self.options.get("mcs_table", 1))
        self.table.calibrated_k(1 << 30, target, mcs_table)  # refuse early, before any cell runs
        missing = self.table.uncalibrated(self.mcs_set, target, mcs_table)
        if missing:
            raise ConfigError(
                f"no AMC thresholds for MCS {missing} (target {target:g}); calibrate them with "
                f"`kbsc calibrate-amc --mcs {' '.join(map(str, missing))}` or choose mcs_set among the "
                "calibrated ones"
            )

    def select(self, cell: Cell, ctx: EvalContext, bridge, k: int) -> tuple[np.ndarray, np.ndarray]:
        """MCS int64 ``[N]`` and γ_eff dB ``[N]`` per sender image of the cell."""
        sinr = receiver_sinr(bridge, np.asarray(ctx.image_ids), k, cell.snr_db)
        mcs_table = int(self.options.get("mcs_table", 1))
        return choose_mcs(sinr, k, self.mcs_set, self.table, self.target, mcs_table, self.margin_db)

    @classmethod
    def validate_options(cls, options, mcs=None, training=None) -> None:
        opts = dict(options)
        if opts.get("mcs_set") == "full":
            opts["mcs_set"] = list(FULL_MCS_SET)
        super().validate_options(opts, mcs, training)

    # ------------------------------------------------------------------ closed loop (OLLA and/or HARQ)
    def transmission_sizes(self, k: int) -> tuple[int, ...]:
        """REs of each transmission of an image's TB: one of k here (HARQ splits k)."""
        return (int(k),)

    def send(self, runner, k: int, mcs: int, bits: np.ndarray, bridge, ids: np.ndarray, snr_db: float):
        """One TB per row of ``bits`` at ``mcs``: a :class:`kbsc.nrlink.harq.HarqResult`."""

        res = runner.link(k, mcs).run(bits, bridge, ids, snr_db)
        nb = len(bits)
        return HarqResult(
            res.bits,
            res.crc_ok,
            res.crc_ok.copy(),
            np.ones(nb, np.int64),
            np.full(nb, int(k), np.int64),
            res.timings,
        )

    def payload_bits(self, runner, k: int, mcs: int) -> int:
        return runner.link(k, mcs).payload_bits

    def evaluate_closed_loop(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        """Per image: MCS from γ_eff over the first transmission's REs against threshold + OLLA offset, then
        :meth:`send`; with ``olla`` one image after the other (each sees the offset its predecessors' first
        transmissions left), without it batched per MCS (same outcomes as one after the other)."""

        k, bridge, runner, fb = self.setup(cell, ctx)
        sizes = self.transmission_sizes(k)
        k1 = sizes[0]
        ids = np.asarray(ctx.image_ids, dtype=np.int64)
        n = len(ids)
        mcs_table = int(self.options.get("mcs_table", 1))
        sinr = receiver_sinr(bridge, ids, k, cell.snr_db)[:, :k1]
        order = sorted(set(self.mcs_set))
        qms = {m: mcs_entry(m, mcs_table).qm for m in order}
        eff_q = {q: effective_snr_db(sinr, q) for q in sorted(set(qms.values()))}
        eff = np.stack([eff_q[qms[m]] for m in order], axis=1)  # [N, M]
        thr = np.array([self.table.threshold(k1, m, self.target, mcs_table) + self.margin_db for m in order])
        order_arr = np.array(order, dtype=np.int64)
        keys = [image_key(im) for im in ctx.images]
        t: dict[str, float] = defaultdict(float)
        encs: list = [None] * n
        ok = np.zeros(n, dtype=bool)
        first_err = np.full(n, np.nan)
        n_tx = np.zeros(n, dtype=np.int64)
        uses = np.zeros(n, dtype=np.int64)
        bit_errors = np.zeros(n, dtype=np.int64)
        info = np.zeros(n, dtype=np.int64)
        chosen = np.zeros(n, dtype=np.int64)
        offsets = np.zeros(n, dtype=np.float64)
        received: dict[int, bytes] = {}

        def pick(rows: np.ndarray, off: float) -> np.ndarray:
            good = eff[rows] >= thr[None, :] + off  # [R, M], thresholds increase with the MCS
            last = np.where(good.any(1), good.shape[1] - 1 - np.argmax(good[:, ::-1], axis=1), 0)
            return order_arr[last]

        def run(rows: np.ndarray, m: int) -> list[bool]:
            tb = self.payload_bits(runner, k, m)
            t0 = time.perf_counter()
            got = runner.encode(ctx.images[rows], np.array(tb), [keys[i] for i in rows])
            t["source_encode_s"] += time.perf_counter() - t0
            sent = [i for i, e in zip(rows, got, strict=True) if e is not None]
            for i, e in zip(rows, got, strict=True):
                encs[i] = e
                chosen[i] = m
            if not sent:
                return []
            bits = np.zeros((len(sent), tb), dtype=np.uint8)
            for j, i in enumerate(sent):
                b = np.unpackbits(np.frombuffer(encs[i].payload, dtype=np.uint8))
                bits[j, : len(b)] = b
            res = self.send(runner, k, m, bits, bridge, ids[sent], cell.snr_db)
            for key, v in res.timings.items():
                t[key] += v
            s = np.asarray(sent)
            ok[s], n_tx[s], uses[s], info[s] = res.crc_ok, res.transmissions, res.channel_uses, tb
            first_err[s] = (~res.first_ok).astype(np.float64)
            bit_errors[s] = (res.bits != bits).sum(axis=1)
            for j, i in enumerate(sent):
                if not res.crc_ok[j]:
                    received[i] = np.packbits(res.bits[j]).tobytes()
            return [bool(v) for v in res.first_ok]

        if self.olla:
            loop = OuterLoop(bler_target=self.target, delta_up_db=self.olla_step_db)
            for i in range(n):
                offsets[i] = loop.offset_db
                row = np.array([i])
                for ack in run(row, int(pick(row, loop.offset_db)[0])):
                    loop.update(ack)
        else:
            all_rows = np.arange(n)
            ms = pick(all_rows, 0.0)
            for m in np.unique(ms):
                run(all_rows[ms == m], int(m))
        res = runner._assemble(n, ctx.kb, ctx.extractor, ctx.images, keys, encs, ok, received, fb, t)
        sent_mask = np.array([e is not None for e in encs])
        res.extras.update(
            {
                "bit_errors": bit_errors,
                "info_bits": info,
                "tb_error": np.where(sent_mask, (~ok).astype(np.float64), np.nan),
                "tb_error_first": first_err,
                "channel_uses": np.where(sent_mask, uses, 0 if len(sizes) > 1 else k).astype(np.int64),
                "transmissions": n_tx,
                "mcs_used": chosen.astype(np.float64),
                "snr_eff_db": eff[np.arange(n), np.searchsorted(order_arr, chosen)],
                "olla_offset_db": offsets,
            }
        )
        runner.flush()
        return self.outcomes(cell, ctx, res, bridge, k)

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        if self.olla or len(self.transmission_sizes(cell.k(ctx.source_dim))) > 1:
            return self.evaluate_closed_loop(cell, ctx)
        k, bridge, runner, fb = self.setup(cell, ctx)
        chosen, eff = self.select(cell, ctx, bridge, k)
        ids = np.asarray(ctx.image_ids)
        n = len(ids)
        merged: CellResult | None = None
        for m in np.unique(chosen):
            idx = np.flatnonzero(chosen == m)
            res = runner.run_fixed(
                ctx.images[idx], ids[idx], k, cell.snr_db, bridge, int(m), ctx.extractor, ctx.kb, fb
            )
            if merged is None:
                merged = CellResult(
                    retrieved=np.full((n, res.retrieved.shape[1]), -1, dtype=np.int64),
                    extras={name: np.zeros(n, dtype=arr.dtype) for name, arr in res.extras.items()},
                )
            merged.retrieved[idx] = res.retrieved
            for name, arr in res.extras.items():
                merged.extras[name][idx] = arr
        assert merged is not None
        merged.extras["snr_eff_db"] = eff
        return self.outcomes(cell, ctx, merged, bridge, k)
