"""Compiled 5G NR transport-block encoder, bit-identical to Sionna's ``TBEncoder`` it is built from.

TS 38.212 chain per TB: TB CRC (CRC24A, CRC16 for small TBs) → code-block segmentation and CB CRC (CRC24B,
only with several CBs) → filler bits → 5G LDPC encoding → rate matching (RV 0: the circular buffer from
bit 2·Z on, fillers skipped) → bit interleaver → CB concatenation → scrambling (TS 38.211).

Redundancy versions (HARQ with incremental redundancy, :meth:`FastTBEncoder.layout`): a transmission of G
coded bits with redundancy version rv reads each code block's circular buffer (fillers skipped, the first 2·Z
systematic bits never sent) cyclically from the rv's start k0 (TS 38.212 Table 5.4.2.1-2, as Sionna's
``LDPC5GEncoder.get_start_positions_comp`` gives it), E_r bits for code block r (E_r from G as in 38.212
§5.4.2.1: Qm·⌊G/(Qm·C)⌋ for the first C − (G/Qm mod C) blocks, Qm·⌈G/(Qm·C)⌉ after), interleaves each with
the 38.212 §5.4.2.2 bit interleaver of its length, concatenates and scrambles with the first G bits of the
TB's scrambling sequence. With G = n this is Sionna's ``LDPC5GEncoder(rv=[rv])`` inside the TB chain, bit for
bit (tests); other lengths (the retransmissions of a HARQ process) follow the same rules.

Everything configuration-dependent is read from the Sionna ``TBEncoder`` instance, so the two agree for every
configuration Sionna accepts: CRC polynomials and lengths, number and size of the code blocks, the LDPC base
matrix and lifting size (:func:`kbsc.nrlink.ldpc.graph.base_matrix`), the code-word lengths, the output
permutation (interleaver and CB concatenation, ``output_perm_inv``) and the scrambling sequence (the
scrambler applied to zeros). What the kernel assumes of them (the double-diagonal core of the base graphs,
RV 0 without wrap-around, one stream) is checked here, and a mismatch raises instead of encoding otherwise.

LDPC parity on the quasi-cyclic structure: the four core parity blocks from the row sums ``λ_0 … λ_3`` of
the information part (``P_B p_0 = Σ λ_i``, then back-substitution along the double diagonal), then each
extension parity block (a degree-1 column) as the XOR of its row's shifted blocks — only as many extension
blocks as rate matching transmits. Bits are uint8, one per byte; every shifted-block XOR is two contiguous
loops over Z (split at ``Z - shift``), which LLVM vectorises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numba import njit

from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc.graph import base_matrix

__all__ = ["FastTBEncoder", "TxLayout"]

_OPTS = dict(cache=True, error_model="numpy", nogil=True, boundscheck=False)
#: what FastTBEncoder reads of a Sionna TBEncoder (public properties; the LDPC base matrix is ``_bm``)
_SIONNA_ATTRS = (
    "k",
    "n",
    "tb_size",
    "k_padding",
    "num_cbs",
    "num_tx",
    "cw_lengths",
    "cw_lengths_max",
    "cw_lengths_sum",
    "ldpc_encoder",
    "tb_crc_encoder",
    "cb_crc_encoder",
    "scrambler",
    "output_perm_inv",
)
#: what it reads of the TBEncoder's LDPC5GEncoder (``_bm``, the base matrix, has no public accessor)
_SIONNA_LDPC_ATTRS = ("k", "n", "z", "k_ldpc", "n_ldpc", "num_bits_per_symbol", "_bm")
#: base graph -> (information columns, core parity row of P_B)
_BG = {(46, 68): ("bg1", 22, 1), (42, 52): ("bg2", 10, 2)}


def _crc_table(poly: int, length: int) -> np.ndarray:
    """Byte table of an MSB-first CRC register of ``length`` bits (``poly`` without its x^length term)."""
    mask = (1 << length) - 1
    table = np.zeros(256, dtype=np.int64)
    for v in range(256):
        reg = v << (length - 8)
        for _ in range(8):
            top = (reg >> (length - 1)) & 1
            reg = (reg << 1) & mask
            if top:
                reg ^= poly
        table[v] = reg
    return table


def _crc_spec(crc_encoder) -> tuple[int, np.ndarray, int]:
    """(length, byte table, polynomial) of a Sionna ``CRCEncoder``; ``crc_pol[0]`` is the x^L coefficient."""
    pol = np.asarray(crc_encoder.crc_pol).astype(np.int64).ravel()
    length = int(crc_encoder.crc_length)
    if pol.shape != (length + 1,) or pol[0] != 1 or pol[-1] != 1 or length < 8:
        raise ConfigError(f"unexpected CRC polynomial layout from Sionna: {pol.tolist()}")
    poly = sum(int(c) << (length - i) for i, c in enumerate(pol) if i > 0)
    return length, _crc_table(poly, length), poly


@njit(**_OPTS)
def _crc(src, start, length, table, crc_len, poly):
    """CRC register after ``src[start:start+length]`` (0/1 bytes, first bit = highest power), zero start."""
    mask = (1 << crc_len) - 1
    reg = 0
    i = start
    for _ in range(length % 8):
        top = ((reg >> (crc_len - 1)) & 1) ^ src[i]
        reg = (reg << 1) & mask
        if top:
            reg ^= poly
        i += 1
    for _ in range(length // 8):
        v = (
            (src[i] << 7)
            | (src[i + 1] << 6)
            | (src[i + 2] << 5)
            | (src[i + 3] << 4)
            | (src[i + 4] << 3)
            | (src[i + 5] << 2)
            | (src[i + 6] << 1)
            | src[i + 7]
        )
        reg = ((reg << 8) & mask) ^ table[((reg >> (crc_len - 8)) ^ v) & 0xFF]
        i += 8
    return reg


@njit(**_OPTS)
def _put_crc(dst, start, reg, crc_len):
    for j in range(crc_len):
        dst[start + j] = (reg >> (crc_len - 1 - j)) & 1


@njit(**_OPTS)
def _xor_shifted(dst, d0, src, s0, shift, z):
    """``dst[d0 + t] ^= src[s0 + (t + shift) mod z]`` for t < z (two runs over slices, indices from 0)."""
    m = z - shift
    a = src[s0 + shift : s0 + z]
    b = src[s0 : s0 + shift]
    d1 = dst[d0 : d0 + m]
    d2 = dst[d0 + m : d0 + z]
    for t in range(m):
        d1[t] ^= a[t]
    for t in range(shift):
        d2[t] ^= b[t]


@njit(**_OPTS)
def _copy_shifted(dst, d0, src, s0, shift, z):
    """``dst[d0 + t] = src[s0 + (t + shift) mod z]`` for t < z."""
    m = z - shift
    dst[d0 : d0 + m] = src[s0 + shift : s0 + z]
    dst[d0 + m : d0 + z] = src[s0 : s0 + shift]


@njit(**_OPTS)
def _encode(
    bits,
    tb_len,
    tb_table,
    tb_poly,
    num_cbs,
    seg,
    cb_len,
    cb_table,
    cb_poly,
    z,
    kb,
    bg1,
    shift_a,
    inv_b,
    row_ptr,
    edge_col,
    edge_shift,
    n_ext,
    width,
    gather,
    scramble,
    out,
):
    """bits uint8 ``[B, tb_size]`` → out float32 ``[B, n]`` (see :class:`FastTBEncoder`)."""
    batch, tb_size = bits.shape
    n_out = out.shape[1]
    tbc = np.zeros(tb_size + tb_len, dtype=np.uint8)
    work = np.zeros(num_cbs * width, dtype=np.uint8)  # filler positions stay 0
    lam = np.zeros(4 * z, dtype=np.uint8)
    sig = np.zeros(z, dtype=np.uint8)
    pa = np.zeros(z, dtype=np.uint8)
    for b in range(batch):
        tbc[:tb_size] = bits[b]
        _put_crc(tbc, tb_size, _crc(tbc, 0, tb_size, tb_table, tb_len, tb_poly), tb_len)
        for c in range(num_cbs):
            x0 = c * width
            work[x0 : x0 + seg] = tbc[c * seg : (c + 1) * seg]
            if cb_len > 0:
                _put_crc(work, x0 + seg, _crc(work, x0, seg, cb_table, cb_len, cb_poly), cb_len)
            # core: λ_r = information part of check row block r
            lam[:] = 0
            for r in range(4):
                for e in range(row_ptr[r], row_ptr[r + 1]):
                    _xor_shifted(lam, r * z, work, x0 + edge_col[e] * z, edge_shift[e], z)
            l0, l1, l2, l3 = lam[:z], lam[z : 2 * z], lam[2 * z : 3 * z], lam[3 * z :]
            for t in range(z):
                sig[t] = l0[t] ^ l1[t] ^ l2[t] ^ l3[t]
            p0 = x0 + kb * z
            _copy_shifted(work, p0, sig, 0, inv_b, z)  # p0 = P_B^-1 σ
            _copy_shifted(pa, 0, work, p0, shift_a, z)  # P_A p0
            w1 = work[p0 + z : p0 + 2 * z]
            w2 = work[p0 + 2 * z : p0 + 3 * z]
            w3 = work[p0 + 3 * z : p0 + 4 * z]
            for t in range(z):
                w1[t] = l0[t] ^ pa[t]
                w3[t] = l3[t] ^ pa[t]
            if bg1:  # row 2: p2 + p3 = λ2
                for t in range(z):
                    w2[t] = l2[t] ^ w3[t]
            else:  # row 1: p1 + p2 = λ1
                for t in range(z):
                    w2[t] = l1[t] ^ w1[t]
            # extension parity blocks (degree-1 columns): the XOR of their row's other blocks
            for r in range(4, 4 + n_ext):
                d0 = x0 + (kb + r) * z
                work[d0 : d0 + z] = 0
                for e in range(row_ptr[r], row_ptr[r + 1]):
                    _xor_shifted(work, d0, work, x0 + edge_col[e] * z, edge_shift[e], z)
        o = out[b]
        for j in range(n_out):
            o[j] = np.float32(work[gather[j]] ^ scramble[j])


@dataclass(frozen=True)
class TxLayout:
    """Where the coded bits of one or more transmissions of a TB come from.

    ``gather`` uint32 ``[Σ G]``: index into the encoder's work buffer ``[num_cbs · width]`` (code block
    ``gather // width``, lifted codeword position ``gather % width``) of each transmitted bit, the
    transmissions one after the other; ``scramble`` uint8 ``[Σ G]``: the scrambling bit XORed onto it;
    ``sizes``: G of each transmission; ``rvs``: its redundancy version.
    """

    rvs: tuple[int, ...]
    sizes: tuple[int, ...]
    gather: np.ndarray
    scramble: np.ndarray
    width: int
    n_ext: int

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[T + 1]``: transmission t is bits ``offsets[t]:offsets[t + 1]``."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise ConfigError(f"Sionna TBEncoder layout changed ({what}); FastTBEncoder cannot mirror it")


class FastTBEncoder:
    """Drop-in for ``sionna.phy.nr.TBEncoder.__call__`` on CPU: bits ``[..., k]`` → coded bits float32
    ``[..., n]``, the same bits as ``tb_encoder`` gives (``tb_encoder`` is read once, not kept)."""

    def __init__(self, tb_encoder: Any) -> None:
        enc = tb_encoder
        for attr in _SIONNA_ATTRS:
            _need(hasattr(enc, attr), f"no attribute {attr!r}")
        _need(int(enc.num_tx) == 1, "one stream (num_tx = 1) only")
        self.k, self.n = int(enc.k), int(enc.n)
        self.tb_size, self.k_padding = int(enc.tb_size), int(enc.k_padding)
        _need(self.tb_size - self.k == self.k_padding, "k_padding = tb_size - k")
        ldpc = enc.ldpc_encoder
        for attr in _SIONNA_LDPC_ATTRS:
            _need(hasattr(ldpc, attr), f"no LDPC encoder attribute {attr!r}")
        self.num_cbs = int(enc.num_cbs)
        self.tb_crc_len, self._tb_table, self._tb_poly = _crc_spec(enc.tb_crc_encoder)
        if enc.cb_crc_encoder is None:
            self.cb_crc_len, self._cb_table, self._cb_poly = 0, np.zeros(256, np.int64), 0
        else:
            self.cb_crc_len, self._cb_table, self._cb_poly = _crc_spec(enc.cb_crc_encoder)
        _need((self.num_cbs > 1) == (self.cb_crc_len > 0), "CB CRC exactly when there are several CBs")
        k_cb = int(ldpc.k)  # CB size with CB CRC, without fillers
        self.seg = k_cb - self.cb_crc_len
        _need(self.num_cbs * self.seg == self.tb_size + self.tb_crc_len, "TB + CRC splits into equal CBs")

        # LDPC code: base matrix, lifting size, core structure
        z, k_ldpc, n_ldpc = int(ldpc.z), int(ldpc.k_ldpc), int(ldpc.n_ldpc)
        bm = base_matrix(ldpc)
        _need(bm.shape in _BG, f"base matrix shape {bm.shape}")
        bg, kb, row_b = _BG[bm.shape]
        _need(k_ldpc == kb * z and n_ldpc == bm.shape[1] * z and k_cb <= k_ldpc, "k_ldpc = kb·Z")
        core = bm[:4, kb : kb + 4]
        a, b = int(core[0, 0]), int(core[row_b, 0])
        want = np.array([[a, 0, -1, -1], [-1, 0, 0, -1], [-1, -1, 0, 0], [a, -1, -1, 0]])
        want[row_b, 0] = b
        _need(a >= 0 and b >= 0 and np.array_equal(core, want), f"{bg} double-diagonal core {core.tolist()}")
        ext = bm[4:, kb + 4 :]
        _need(np.array_equal(ext, np.where(np.eye(len(ext), dtype=bool), 0, -1)), "extension diagonal")
        self.bg, self.z, self.kb = bg, z, kb

        # rate matching (RV 0, no wrap-around): c_no_filler[2Z : 2Z + E]
        e_max = int(enc.cw_lengths_max)
        _need(getattr(ldpc, "num_bits_per_symbol", None) in (None, 1), "no interleaver in the LDPC encoder")
        _need(int(ldpc.n) == e_max, "LDPC encoder length = longest code word")
        n_sys = k_cb - 2 * z
        _need(n_sys >= 0, "K' ≥ 2·Z")
        n_cb_comp = n_ldpc - 2 * z - (k_ldpc - k_cb)
        if e_max > n_cb_comp:
            raise ConfigError(
                f"code word length {e_max} exceeds the circular buffer {n_cb_comp} (Sionna does not wrap)"
            )
        n_par = max(0, e_max - n_sys)
        n_ext = max(0, -(-(n_par - 4 * z) // z))
        self.n_ext = n_ext
        self.width = (kb + 4 + n_ext) * z
        self._bm, self._k_cb, self._n_sys, self._k_ldpc = bm, k_cb, n_sys, k_ldpc
        self.n_cb_comp = n_cb_comp
        self.qm = int(getattr(enc, "_num_bits_per_symbol", 0)) or None
        starts = getattr(ldpc, "get_start_positions_comp", None)
        _need(callable(starts), "LDPC5GEncoder.get_start_positions_comp (redundancy versions)")
        self.rv_starts = tuple(int(v) for v in starts([0, 1, 2, 3]))  # compressed buffer, per rv
        _need(self.rv_starts[0] == 0, "rv 0 starts at the buffer's start")
        self._scrambler = enc.scrambler
        self._scramble_cache: dict[int, np.ndarray] = {self.n: None}  # type: ignore[dict-item]
        self._layouts: dict[tuple, TxLayout] = {}
        pos = np.concatenate([2 * z + np.arange(min(n_sys, e_max)), k_ldpc + np.arange(n_par)])  # [e_max]

        self._row_ptr, self._edge_col, self._edge_shift = self._edges(n_ext)

        # output permutation (interleaver, CB concatenation, shorter code words) and scrambling
        perm = np.argsort(np.asarray(enc.output_perm_inv.cpu(), dtype=np.int64))
        _need(perm.shape == (self.num_cbs * e_max,), "output permutation over all CBs")
        _need(int(enc.cw_lengths_sum) == self.n == int(np.sum(enc.cw_lengths)), "n = Σ code word lengths")
        src = perm[: self.n]
        self._gather = ((src // e_max) * self.width + pos[src % e_max]).astype(np.uint32)
        if enc.scrambler is None:
            self._scramble = np.zeros(self.n, np.uint8)
        else:
            with torch.no_grad():
                seq = enc.scrambler(torch.zeros(1, 1, self.n, dtype=torch.float32))
            self._scramble = seq.reshape(-1).numpy().astype(np.uint8)
            _need(self._scramble.shape == (self.n,) and self._scramble.max(initial=0) <= 1, "0/1 scrambler")
        self._scramble_cache[self.n] = self._scramble

        _need(self._gather.max(initial=0) < self.num_cbs * self.width < 2**32, "uint32 gather index")
        self._kernel_args = (
            self.tb_crc_len,
            self._tb_table,
            self._tb_poly,
            self.num_cbs,
            self.seg,
            self.cb_crc_len,
            self._cb_table,
            self._cb_poly,
            z,
            kb,
            bg == "bg1",
            a,
            (z - b) % z,  # P_B^-1 is the shift by -b
            self._row_ptr,
            self._edge_col,
            self._edge_shift,
            n_ext,
            self.width,
            self._gather,
            self._scramble,
        )

    def _edges(self, n_ext: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row_ptr, edge column block, shift) of core rows 0-3 (information columns) and extension rows
        4 … 3 + n_ext (information and core parity columns; their own degree-1 column is the output)."""
        bm, z, kb, k_cb = self._bm, self.z, self.kb, self._k_cb
        rows, cols, shifts = [], [], []
        for r in range(4 + n_ext):
            c_hi = kb if r < 4 else kb + 4
            for c in range(c_hi):
                if bm[r, c] >= 0 and (c >= kb or c * z < k_cb):  # filler-only columns add zeros
                    rows.append(r)
                    cols.append(c)
                    shifts.append(bm[r, c])
        row_ptr = np.searchsorted(np.asarray(rows, np.int64), np.arange(5 + n_ext)).astype(np.int64)
        return row_ptr, np.asarray(cols, np.int64), np.asarray(shifts, np.int64)

    def _scrambling(self, g: int) -> np.ndarray:
        """The first ``g`` bits of the TB's scrambling sequence, uint8 ``[g]`` (zeros without a scrambler)."""
        hit = self._scramble_cache.get(g)
        if hit is None:
            if self._scrambler is None:
                hit = np.zeros(g, np.uint8)
            else:
                with torch.no_grad():
                    hit = self._scrambler(torch.zeros(1, 1, g, dtype=torch.float32)).reshape(-1).numpy()
                hit = hit.astype(np.uint8)
            self._scramble_cache[g] = hit
        return hit

    def cb_lengths(self, num_coded_bits: int, qm: int) -> np.ndarray:
        """E_r int64 ``[num_cbs]`` of a transmission of G = ``num_coded_bits`` bits (TS 38.212 §5.4.2.1)."""
        g, c = int(num_coded_bits), self.num_cbs
        if qm < 1 or g < qm or g % qm:
            raise ConfigError(f"a transmission needs a positive multiple of Qm={qm} coded bits, got {g}")
        q = g // qm
        e = np.full(c, qm * (q // c), dtype=np.int64)
        e[c - q % c :] = qm * -(-q // c)
        return e

    def layout(self, transmissions: Sequence[tuple[int, int]], qm: int | None = None) -> TxLayout:
        """The :class:`TxLayout` of transmissions ``[(rv, G), …]`` of this TB with Qm bits per symbol
        (default: the TB encoder's)."""
        qm = int(qm or self.qm or 0)
        if qm < 1:
            raise ConfigError("the modulation order Qm is needed for the bit interleaver")
        tx = tuple((int(rv), int(g)) for rv, g in transmissions)
        key = (tx, qm)
        hit = self._layouts.get(key)
        if hit is not None:
            return hit
        z, n_sys, k_ldpc, ncb = self.z, self._n_sys, self._k_ldpc, self.n_cb_comp
        width = self._bm.shape[1] * z  # the whole mother code word
        gathers, scrambles = [], []
        for rv, g in tx:
            if rv not in (0, 1, 2, 3):
                raise ConfigError(f"redundancy version must be 0, 1, 2 or 3, got {rv}")
            e = self.cb_lengths(g, qm)
            parts = []
            for r, e_r in enumerate(e.tolist()):
                p = (self.rv_starts[rv] + np.arange(e_r)) % ncb  # compressed circular buffer positions
                pos = np.where(p < n_sys, 2 * z + p, k_ldpc + (p - n_sys))
                rows = e_r // qm  # 38.212 §5.4.2.2: write row by row (Qm rows), read column by column
                perm = (np.arange(qm)[None, :] * rows + np.arange(rows)[:, None]).reshape(-1)
                parts.append(r * width + pos[perm])
            gathers.append(np.concatenate(parts))
            scrambles.append(self._scrambling(g))
        gather = np.concatenate(gathers).astype(np.int64)
        n_ext = max(0, int((gather % width).max(initial=0)) // z - self.kb - 3)  # extension blocks sent
        w_need = (self.kb + 4 + n_ext) * z
        # re-base onto the narrower work buffer the kernel fills (only the blocks that are sent)
        gather = (gather // width) * w_need + gather % width
        _need(gather.max(initial=0) < self.num_cbs * w_need < 2**32, "uint32 gather index")
        out = TxLayout(
            rvs=tuple(rv for rv, _ in tx),
            sizes=tuple(g for _, g in tx),
            gather=gather.astype(np.uint32),
            scramble=np.concatenate(scrambles).astype(np.uint8),
            width=w_need,
            n_ext=n_ext,
        )
        self._layouts[key] = out
        return out

    def encode_layout(self, bits: np.ndarray, layout: TxLayout) -> np.ndarray:
        """uint8-able bits ``[B, k]`` → float32 ``[B, Σ G]``: the transmissions of ``layout`` in order."""
        u = self._prepare(bits)
        row_ptr, edge_col, edge_shift = self._edges(layout.n_ext)
        args = list(self._kernel_args)
        args[13:20] = [
            row_ptr,
            edge_col,
            edge_shift,
            layout.n_ext,
            layout.width,
            layout.gather,
            layout.scramble,
        ]
        out = np.empty((len(u), len(layout.gather)), dtype=np.float32)
        if len(u):
            _encode(u, *args, out)
        return out

    def encode_rv(self, bits: np.ndarray, rv: int, num_coded_bits: int | None = None) -> np.ndarray:
        """uint8-able bits ``[B, k]`` → float32 ``[B, G]``: one transmission with redundancy version ``rv``
        of G = ``num_coded_bits`` (default n) bits."""
        g = self.n if num_coded_bits is None else int(num_coded_bits)
        return self.encode_layout(bits, self.layout([(rv, g)]))

    def _prepare(self, bits: np.ndarray) -> np.ndarray:
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != self.k:
            raise ValueError(f"TB input must be [B, {self.k}] bits, got {bits.shape}")
        u = np.ascontiguousarray(bits, dtype=np.uint8)
        if u.size and (u.max() > 1 or (bits.dtype != np.uint8 and not np.array_equal(u, bits))):
            raise ValueError("TB input must be binary")
        if self.k_padding > 0:
            u = np.concatenate([u, np.zeros((len(u), self.k_padding), np.uint8)], axis=1)
        elif self.k_padding < 0:
            u = np.ascontiguousarray(u[:, : self.tb_size])
        return u

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """uint8-able bits ``[B, k]`` → float32 ``[B, n]``."""
        u = self._prepare(bits)
        out = np.empty((len(u), self.n), dtype=np.float32)
        if len(u):
            _encode(u, *self._kernel_args, out)
        return out

    def __call__(self, bits: np.ndarray | torch.Tensor) -> torch.Tensor:
        """bits ``[..., k]`` (numpy or torch, 0/1) → coded bits float32 torch ``[..., n]``."""
        if isinstance(bits, torch.Tensor):
            bits = bits.detach().cpu().numpy()
        bits = np.asarray(bits)
        lead = bits.shape[:-1]
        out = self.encode(bits.reshape(-1, bits.shape[-1]) if bits.ndim != 2 else bits)
        return torch.from_numpy(out.reshape(*lead, self.n))
