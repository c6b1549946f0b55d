"""The 5G NR transport-block link over the bridge: bits → TB → QAM → bridge → LLRs → TB decoding → bits.

Per image: TB CRC (24 bits; 16 for small TBs), code-block segmentation and CB CRC, 5G LDPC (base graph by
size and rate), rate matching to ``k · Qm`` coded bits, scrambling and the bit interleaver (TS 38.212:
Sionna's ``TBEncoder`` configures it, :class:`kbsc.nrlink.tb_encoder.FastTBEncoder` encodes bit for bit
the same, compiled; Sionna's ``TBDecoder``); Gray QAM (TS 38.211 §5.1) via :mod:`kbsc.bridge.modulation`; the
bridge places the k symbols on the image's own data REs, applies its channel and noise, estimates and
equalizes; LLRs use the bridge's per-RE effective noise variance; the LDPC decoder is pluggable
(:mod:`kbsc.nrlink.ldpc`); the TB CRC decides success.
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kbsc.bridge.modulation import demap_llr, map_bits
from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc import install_in_tb_decoder
from kbsc.nrlink.ldpc.registry import DEFAULT_LDPC_DECODER
from kbsc.nrlink.mcs import TbPlan, plan_tb
from kbsc.nrlink.tb_encoder import FastTBEncoder
from kbsc.util.progress import in_worker
from kbsc.util.warn import warn

__all__ = ["DEFAULT_DECODER", "LinkResult", "NRLink", "mother_tb_encoder", "shared_link"]

DEFAULT_DECODER = DEFAULT_LDPC_DECODER
#: lowest LDPC rate Sionna's 5G encoder accepts (BG2 mother code)
MIN_RATE = 0.2
#: images per TB-encoder/decoder call
CHUNK = 256
#: links a process keeps in :func:`shared_link` (least recently used dropped first)
SHARED_LINKS = 256
_SHARED: OrderedDict[tuple[int, int, int, str, int], NRLink] = OrderedDict()


@dataclass
class LinkResult:
    """Decoded TB information bits uint8 ``[B, tb_size]``, TB CRC success bool ``[B]``, stage seconds."""

    bits: np.ndarray
    crc_ok: np.ndarray
    fingerprint: str
    timings: dict[str, float] = field(default_factory=dict)


class NRLink:
    """One (k, MCS, MCS table, LDPC decoder) link. ``payload_bits`` = TB size = the source budget."""

    def __init__(
        self,
        k: int,
        mcs: int,
        table: int = 1,
        decoder: str = DEFAULT_DECODER,
        num_iter: int = 20,
    ) -> None:
        from sionna.phy.nr import TBDecoder, TBEncoder

        self.plan: TbPlan = plan_tb(k, mcs, table)
        self.k = int(k)
        self.qm = self.plan.mcs.qm
        self.decoder_name = str(decoder)
        self.num_iter = int(num_iter)
        self.n_coded = self.plan.num_coded_bits  # k · Qm bits on the air
        self.n_mother, self.encoder = mother_tb_encoder(self.plan, TBEncoder)  # the decoder needs it
        self.fast_encoder = FastTBEncoder(self.encoder)
        self.decoder = TBDecoder(self.encoder, num_bp_iter=self.num_iter, device="cpu")
        if self.decoder_name != "sionna":
            install_in_tb_decoder(self.decoder, self.decoder_name, num_iter=self.num_iter)
        if self.encoder.k != self.plan.tb_size:
            raise ConfigError(
                f"TB size mismatch: encoder takes {self.encoder.k}, 38.214 gives {self.plan.tb_size}"
            )

    @property
    def repetition(self) -> float:
        """Air bits per mother-code bit (1 unless the rate is below 1/5)."""
        return self.n_coded / self.n_mother

    def _repeat(self, c: torch.Tensor) -> torch.Tensor:
        if self.n_mother == self.n_coded:
            return c
        reps = -(-self.n_coded // self.n_mother)
        return c.repeat(1, reps)[:, : self.n_coded]

    def _combine(self, llr: torch.Tensor) -> torch.Tensor:
        if self.n_mother == self.n_coded:
            return llr
        reps = -(-self.n_coded // self.n_mother)
        pad = torch.zeros(llr.shape[0], reps * self.n_mother - self.n_coded, dtype=llr.dtype)
        return torch.cat([llr, pad], 1).reshape(llr.shape[0], reps, self.n_mother).sum(1)

    @property
    def payload_bits(self) -> int:
        return int(self.plan.tb_size)

    def encode(self, bits: np.ndarray, reference: bool = False) -> torch.Tensor:
        """TB-encode bits ``[B, tb_size]`` (0/1) → coded bits float32 ``[B, n_mother]``: the compiled encoder,
        or Sionna's ``TBEncoder`` with ``reference=True`` (the same bits, ~20-100x slower)."""
        if reference:
            with torch.no_grad():
                return self.encoder(torch.as_tensor(np.asarray(bits), dtype=torch.float32))
        return self.fast_encoder(bits)

    def llrs(
        self, bits: np.ndarray, bridge, image_ids: np.ndarray, snr_db: float
    ) -> tuple[torch.Tensor, str]:
        """TB-encode, map, transmit and demap: bits ``[B, tb_size]`` → LLRs float32 ``[B, n_mother]`` (the
        TB decoder's input; equal to k·Qm unless repeated)."""

        with torch.no_grad():
            c = self.encode(bits)
            x = map_bits(self._repeat(c), self.qm)
            out = bridge.transmit(x, image_ids, snr_db)
            llr = self._combine(demap_llr(out.y, out.noise_var, self.qm))
        return llr, out.fingerprint

    def run(self, bits: np.ndarray, bridge, image_ids: np.ndarray, snr_db: float) -> LinkResult:
        """Send each row of ``bits`` uint8 ``[B, tb_size]`` as one TB on image ``image_ids[b]``'s REs."""

        bits = np.asarray(bits, dtype=np.uint8)
        ids = np.asarray(image_ids, dtype=np.int64)
        if bits.ndim != 2 or bits.shape[1] != self.payload_bits or len(ids) != bits.shape[0]:
            raise ConfigError(
                f"link input must be [B, {self.payload_bits}] bits with B ids, got {bits.shape}"
            )
        t: dict[str, float] = defaultdict(float)
        out_bits = np.zeros_like(bits)
        ok = np.zeros(len(bits), dtype=bool)
        fps = []
        for s in range(0, len(bits), CHUNK):
            sl = slice(s, s + CHUNK)
            t0 = time.perf_counter()
            with torch.no_grad():
                c = self.encode(bits[sl])
                x = map_bits(self._repeat(c), self.qm)
                t1 = time.perf_counter()
                out = bridge.transmit(x, ids[sl], snr_db)
                t2 = time.perf_counter()
                llr = self._combine(demap_llr(out.y, out.noise_var, self.qm))
                t3 = time.perf_counter()
                b_hat, crc = self.decoder(llr)
                t4 = time.perf_counter()
            out_bits[sl] = b_hat.numpy().astype(np.uint8)
            ok[sl] = crc.numpy().astype(bool).reshape(-1)
            fps.append(out.fingerprint)
            t["tb_encode_map_s"] += t1 - t0
            t["bridge_s"] += t2 - t1
            t["demap_s"] += t3 - t2
            t["tb_decode_s"] += t4 - t3
        return LinkResult(
            bits=out_bits, crc_ok=ok, fingerprint=fps[0] if len(fps) == 1 else "", timings=dict(t)
        )


def _report_library_warnings(caught: list[warnings.WarningMessage], plan: TbPlan) -> None:
    """Sionna's two-line ``UserWarning: Effective coderate r>948/1024 for n=…, k=…`` (with its source path)
    is what TS 38.214's TB-size quantisation gives at the top MCS indices and is allowed (Sionna refuses only
    r > 0.95, handled above): one plain line per code in the main process, nothing from grid workers (it
    carries no news there). Other library warnings pass on as one line each."""

    for w in caught:
        text = " ".join(str(w.message).split())
        if "Effective coderate" in text:
            if not in_worker():
                warn(f"MCS {plan.mcs.index}: {text.rstrip('.')} (allowed by TS 38.212 5.4.2.1 up to 0.95; "
                     "the TB size quantisation gives it)")  # fmt: skip
        else:
            warn(f"sionna: {text}")


def mother_tb_encoder(plan: TbPlan, tb_encoder_cls=None) -> tuple[int, Any]:
    """Coded bits the TB encoder of ``plan`` produces — k·Qm, or fewer when the rate would fall below
    Sionna's 1/5 — and Sionna's ``TBEncoder`` of that length (the trial that succeeded: building it again
    cost as much).

    TS 38.212 reaches rates below the BG2 mother rate 1/5 (MCS 0 and 1 of table 1) by letting the
    circular buffer wrap around (repetition). Sionna refuses rates < 1/5, so we encode to the largest
    length it accepts and repeat the coded bits cyclically up to k·Qm; the receiver adds the LLRs of
    the copies (chase combining), which is what the wrap-around gives a receiver.
    """
    if tb_encoder_cls is None:
        from sionna.phy.nr import TBEncoder as tb_encoder_cls
    qm = plan.mcs.qm
    n = plan.num_coded_bits
    while n >= qm:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                enc = tb_encoder_cls(
                    target_tb_size=plan.tb_size,
                    num_coded_bits=n,
                    target_coderate=max(plan.mcs.rate, MIN_RATE),
                    num_bits_per_symbol=qm,
                    device="cpu",
                )
            _report_library_warnings(caught, plan)
            return n, enc
        except (ValueError, AssertionError):
            n = qm * int(min(n - qm, (plan.tb_size / MIN_RATE)) // qm)
    raise ConfigError(
        f"no NR transport block of {plan.tb_size} bits fits k={plan.k} REs at MCS {plan.mcs.index}"
    )


def shared_link(
    k: int, mcs: int, table: int = 1, decoder: str = DEFAULT_DECODER, num_iter: int = 20
) -> NRLink:
    """The :class:`NRLink` of these arguments, built once per process and shared by every runner and system.

    Building one (Sionna's TB encoder and decoder, the LDPC graph) costs about as much as sending a few
    hundred images through it, and each conventional system of a grid worker (``hevc+ldpc``,
    ``hevc+ldpc-best``, ``hevc+ldpc-amc``, ``kbsc-digital``, …) built its own set. A link is a pure function
    of its arguments and keeps no state between :meth:`NRLink.run` calls that changes an outcome.
    """
    key = (int(k), int(mcs), int(table), str(decoder), int(num_iter))
    link = _SHARED.get(key)
    if link is None:
        link = NRLink(*key)
        _SHARED[key] = link
        while len(_SHARED) > SHARED_LINKS:
            _SHARED.popitem(last=False)
    else:
        _SHARED.move_to_end(key)
    return link
