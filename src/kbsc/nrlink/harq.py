"""HARQ with incremental redundancy inside an image's channel-use budget (the link of ``hevc+ldpc-harq``).

Policy (:class:`HarqPolicy`), for an image with a budget of k data REs:

* **Transmissions.** The first transmission takes k₁ = round(``first_fraction`` · k) REs; the remaining k − k₁
  REs are split as evenly as possible (larger parts first) into at most ``max_transmissions`` − 1
  retransmissions. Transmission t carries redundancy version (0, 2, 3, 1)[t mod 4] (TS 38.214 §5.1.2.1's
  order) of the same transport block: Qm · (its REs) coded bits read from the circular buffer at that rv's
  start (:meth:`kbsc.nrlink.tb_encoder.FastTBEncoder.layout`, bit-identical to Sionna's rv rate matching).
* **Transport block.** TB size from the MCS and the first transmission's k₁ REs (TS 38.214 §5.1.3.2, as an
  initial transmission's allocation sets it); every transmission uses the MCS's modulation.
* **Where.** Transmission t occupies the image's REs after those of transmissions < t (the bridge's fixed
  frequency-first order), so it sees the channel and noise realizations of the slots it occupies.
* **Feedback.** Ideal and delay-free: after each transmission the receiver decodes; an ACK (TB CRC passes)
  stops the process, a NACK sends the next transmission if one is left.
* **Receiver.** Soft combining on the circular buffer: the LLRs of every transmission so far are descrambled
  and added at their code-block positions of the lifted mother code word (chase combining where rvs overlap,
  incremental redundancy where they do not), then the engine's LDPC decoder (the cell's schedule, e.g.
  layered sum-product) runs on the parity-check rows those positions reach; the TB CRC decides.
* **Channel uses.** An image spends the REs of the transmissions it used (k₁ if the first one decodes, …, k
  if the last is needed or all fail); the unused remainder of the budget is left idle (counted as not spent).

Because every RE's channel and noise are a pure function of its key, sending all transmissions in one
bridge call and decoding them one after the other is the same as sending each after its NACK.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch
from numba import njit

from kbsc.bridge.modulation import demap_llr, map_bits
from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc import kernels
from kbsc.nrlink.ldpc.decoder import LLR_MAX, SCHEDULES
from kbsc.nrlink.ldpc.graph import SRC_FILLER
from kbsc.nrlink.link import mother_tb_encoder
from kbsc.nrlink.mcs import TbPlan, plan_tb
from kbsc.nrlink.tb_encoder import FastTBEncoder, _crc

__all__ = ["RV_ORDER", "HarqLink", "HarqPolicy", "HarqResult", "shared_harq_link"]

#: redundancy versions of successive transmissions (TS 38.214 §5.1.2.1)
RV_ORDER = (0, 2, 3, 1)
_SHARED: dict[tuple, HarqLink] = {}


@dataclass(frozen=True)
class HarqPolicy:
    """First-transmission share of the budget and the maximum number of transmissions."""

    first_fraction: float = 0.9
    max_transmissions: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < float(self.first_fraction) <= 1.0:
            raise ConfigError(f"first_fraction must be in (0, 1], got {self.first_fraction}")
        m = self.max_transmissions
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError(f"max_transmissions must be a positive integer, got {m!r}")

    def sizes(self, k: int) -> tuple[int, ...]:
        """REs of each transmission, summing to ``k``."""
        k = int(k)
        k1 = min(k, max(1, round(self.first_fraction * k)))
        rest = k - k1
        parts = min(self.max_transmissions - 1, rest)
        if parts <= 0:
            return (k1,)
        base, extra = divmod(rest, parts)
        return (k1, *[base + (1 if i < extra else 0) for i in range(parts)])


@dataclass
class HarqResult:
    """Per TB ``[B]``: decoded bits uint8 ``[B, tb_size]`` (of the last decoding), CRC success, first
    transmission's success, transmissions used, channel uses spent; stage seconds."""

    bits: np.ndarray
    crc_ok: np.ndarray
    first_ok: np.ndarray
    transmissions: np.ndarray
    channel_uses: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


@njit(cache=True, nogil=True)
def _tb_crc_ok(cb_bits, num_cbs, seg, table, crc_len, poly, ok):
    """cb_bits float32 ``[B·C, ≥seg]`` hard bits → TB bits uint8 ``[B, C·seg]`` and CRC check into ok."""
    nb = cb_bits.shape[0] // num_cbs
    tb = np.empty((nb, num_cbs * seg), dtype=np.uint8)
    for b in range(nb):
        for c in range(num_cbs):
            row = cb_bits[b * num_cbs + c]
            for j in range(seg):
                tb[b, c * seg + j] = np.uint8(1) if row[j] > 0.5 else np.uint8(0)
        ok[b] = _crc(tb[b], 0, num_cbs * seg, table, crc_len, poly) == 0
    return tb


#: the per-codeword schedule that decodes a combined circular buffer for each frame-vectorized decoder: the
#: lanes engine decodes whole codewords, while combining decodes on the graph the received positions reach.
#: lanes-oms makes the same decisions as layered-oms; lanes-cms and lanes-cms16 (corrected min-sum)
#: approximate layered sum-product, whose AWGN thresholds are within 0.06 dB of its own (docs/ldpc-engine.md).
COMBINING_SCHEDULE = {
    "lanes-oms": "layered-oms",
    "lanes-q8": "layered-oms",
    "lanes-cms": "layered",
    "lanes-cms16": "layered",
}


class HarqLink:
    """One (transmission sizes, MCS, MCS table, LDPC schedule) HARQ process for images of k REs."""

    def __init__(
        self, sizes: tuple[int, ...], mcs: int, table: int = 1, decoder: str = "layered", num_iter: int = 20
    ) -> None:
        decoder = COMBINING_SCHEDULE.get(decoder, decoder)
        if decoder not in SCHEDULES:
            raise ConfigError(
                f"HARQ combining runs on the LDPC engine: decoder must be one of {', '.join(SCHEDULES)}, "
                f"got {decoder!r}"
            )
        self.sizes = tuple(int(s) for s in sizes)
        self.k = int(sum(self.sizes))
        self.plan: TbPlan = plan_tb(self.sizes[0], mcs, table)
        self.qm = self.plan.mcs.qm
        self.schedule = SCHEDULES[decoder]
        self.num_iter = int(num_iter)
        _, enc = mother_tb_encoder(self.plan)
        self.fast = FastTBEncoder(enc)
        f = self.fast
        tx = [(RV_ORDER[t % 4], s * self.qm) for t, s in enumerate(self.sizes)]
        self.layout = f.layout(tx, self.qm)
        self.rvs = self.layout.rvs
        w = self.layout.width
        self._sign = (1.0 - 2.0 * self.layout.scramble.astype(np.float32)).astype(np.float32)
        offs = self.layout.offsets
        self._graphs = []
        self._unique = []
        top = 0
        for t in range(len(self.sizes)):
            g = self.layout.gather[offs[t] : offs[t + 1]].astype(np.int64)
            self._unique.append(len(np.unique(g)) == len(g))
            top = max(top, int((g % w).max(initial=0)))
            self._graphs.append(self._graph(max(f.kb + 4, top // f.z + 1)))

    def _graph(self, ncb: int) -> tuple:
        """(ncb, src_idx, row_ptr, edge_col, edge_shift, max_degree) of the code on column blocks < ncb."""
        f = self.fast
        bm, z = f._bm, f.z
        nrb = ncb - f.kb
        rows, cols = np.nonzero(bm[:nrb, :ncb] >= 0)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        row_ptr = np.zeros(nrb + 1, dtype=np.int64)
        np.add.at(row_ptr, rows + 1, 1)
        row_ptr = np.cumsum(row_ptr)
        src = np.arange(ncb * z, dtype=np.int64)
        src[f._k_cb : f._k_ldpc] = SRC_FILLER
        shifts = bm[rows, cols].astype(np.int64)
        return ncb, src, row_ptr, cols.astype(np.int64), shifts, int(np.diff(row_ptr).max())

    @property
    def payload_bits(self) -> int:
        return int(self.plan.tb_size)

    @property
    def cumulative_uses(self) -> np.ndarray:
        return np.cumsum(self.sizes).astype(np.int64)

    def _decode(self, buf: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Combined LLRs float32 ``[B, C, width]`` after transmission t → (TB bits ``[B, tb + crc]``, CRC
        ok)."""

        f = self.fast
        ncb, src, row_ptr, cols, shifts, max_deg = self._graphs[t]
        nb, c = buf.shape[0], f.num_cbs
        llr = np.ascontiguousarray(buf[:, :, : ncb * f.z].reshape(nb * c, ncb * f.z))
        bits = np.empty((nb * c, f._k_cb), dtype=np.float32)
        iters = np.zeros(nb * c, dtype=np.int32)
        conv = np.zeros(nb * c, dtype=np.uint8)
        kernels.decode_batch(
            llr,
            src,
            row_ptr,
            cols,
            shifts,
            f.z,
            f.z,
            max_deg,
            f._k_cb,
            self.schedule,
            self.num_iter,
            np.float32(LLR_MAX),
            True,
            np.float32(0.5),
            bits,
            iters,
            conv,
        )
        ok = np.zeros(nb, dtype=np.bool_)
        tb = _tb_crc_ok(bits, c, f.seg, f._tb_table, f.tb_crc_len, f._tb_poly, ok)
        return tb, ok

    def run(self, bits: np.ndarray, bridge, image_ids: np.ndarray, snr_db: float) -> HarqResult:
        """Send each row of ``bits`` uint8 ``[B, tb_size]`` as one HARQ process on image ``image_ids[b]``."""

        bits = np.asarray(bits, dtype=np.uint8)
        ids = np.asarray(image_ids, dtype=np.int64)
        if bits.ndim != 2 or bits.shape[1] != self.payload_bits or len(ids) != bits.shape[0]:
            raise ConfigError(
                f"HARQ input must be [B, {self.payload_bits}] bits with B ids, got {bits.shape}"
            )
        t: dict[str, float] = defaultdict(float)
        nb = len(bits)
        t0 = time.perf_counter()
        with torch.no_grad():
            x = map_bits(torch.from_numpy(self.fast.encode_layout(bits, self.layout)), self.qm)
            t1 = time.perf_counter()
            out = bridge.transmit(x, ids, snr_db)
            t2 = time.perf_counter()
            llr = demap_llr(out.y, out.noise_var, self.qm).numpy() * self._sign[None, :]
        t3 = time.perf_counter()
        f = self.fast
        w = self.layout.width
        buf = np.zeros((nb, f.num_cbs * w), dtype=np.float32)
        ok = np.zeros(nb, dtype=bool)
        first = np.zeros(nb, dtype=bool)
        n_tx = np.full(nb, len(self.sizes), dtype=np.int64)
        out_bits = np.zeros((nb, self.payload_bits), dtype=np.uint8)
        offs = self.layout.offsets
        for tx in range(len(self.sizes)):
            act = np.flatnonzero(~ok)
            if not len(act):
                break
            g = self.layout.gather[offs[tx] : offs[tx + 1]].astype(np.int64)
            part = llr[act, offs[tx] : offs[tx + 1]]
            if self._unique[tx]:
                buf[np.ix_(act, g)] += part
            else:
                sub = buf[act]
                for j in range(len(act)):
                    np.add.at(sub[j], g, part[j])
                buf[act] = sub
            tb, good = self._decode(buf[act].reshape(len(act), f.num_cbs, w), tx)
            out_bits[act] = tb[:, : self.payload_bits]
            ok[act[good]] = True
            n_tx[act[good]] = tx + 1
            if tx == 0:
                first[act[good]] = True
        t["tb_encode_map_s"] += t1 - t0
        t["bridge_s"] += t2 - t1
        t["demap_s"] += t3 - t2
        t["tb_decode_s"] += time.perf_counter() - t3
        uses = self.cumulative_uses[n_tx - 1]
        return HarqResult(out_bits, ok, first, n_tx, uses, dict(t))


def shared_harq_link(
    sizes: tuple[int, ...], mcs: int, table: int = 1, decoder: str = "layered", num_iter: int = 20
) -> HarqLink:
    """The :class:`HarqLink` of these arguments, built once per process (like :func:`shared_link`)."""
    key = (tuple(int(s) for s in sizes), int(mcs), int(table), str(decoder), int(num_iter))
    link = _SHARED.get(key)
    if link is None:
        if len(_SHARED) >= 256:
            _SHARED.clear()
        link = _SHARED[key] = HarqLink(*key)
    return link
