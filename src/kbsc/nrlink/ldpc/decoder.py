"""FastLDPC5GDecoder: a drop-in replacement for Sionna's LDPC5GDecoder(hard_out=True) on CPU.

Input: ``llr`` [..., n] float32, exactly what ``LDPC5GDecoder`` takes (rate-matched, output-interleaved when
the encoder has ``num_bits_per_symbol``, Sionna's logit sign convention log p(1)/p(0)). Output: [..., k] hard
information bits (or [..., n] hard codeword bits with ``return_infobits=False``) as float32.
"""

from __future__ import annotations

import numpy as np
import torch

from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc.graph import QCGraph, build_graph
from kbsc.nrlink.ldpc.lanes import ALPHA_SHIFT, DEGREES, load_kernels

#: Schedule name -> kernel code (see kernels.py).
SCHEDULES = {"flooding": 0, "layered": 1, "layered-oms": 2}
LLR_MAX = 20.0  # Sionna's default llr_max (clipping of channel LLRs and messages; filler LLR)


class FastLDPC5GDecoder(torch.nn.Module):
    """Compiled quasi-cyclic 5G LDPC decoder (numba, all cores).

    Args:
        encoder: the ``sionna.phy.fec.ldpc.LDPC5GEncoder`` of the code.
        schedule: "flooding" (sum-product, same decisions as Sionna's decoder), "layered" (row-block
            sum-product) or "layered-oms" (layered offset min-sum).
        num_iter: maximum iterations.
        offset: min-sum offset (layered-oms only).
        early_stop: stop a codeword as soon as its syndrome is zero.
        return_infobits: return the k information bits (else the n rate-matched codeword bits).
        hard_out: must be True (soft output is not implemented).
        num_threads: numba threads (None = numba's default, all cores).
    """

    def __init__(
        self,
        encoder,
        schedule: str = "layered-oms",
        num_iter: int = 20,
        offset: float = 0.5,
        early_stop: bool = True,
        return_infobits: bool = True,
        hard_out: bool = True,
        num_threads: int | None = None,
        llr_max: float = LLR_MAX,
    ) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ConfigError(f"unknown LDPC schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if not hard_out:
            raise ConfigError(
                "FastLDPC5GDecoder gives hard decisions only; use decoder 'sionna' for soft output"
            )
        if int(num_iter) < 1:
            raise ConfigError(f"num_iter must be >= 1, got {num_iter}")
        self.encoder = encoder
        self.graph: QCGraph = build_graph(encoder)
        self.schedule = schedule
        self.num_iter = int(num_iter)
        self.offset = float(offset)
        self.early_stop = bool(early_stop)
        self.return_infobits = bool(return_infobits)
        self.num_threads = num_threads
        self.llr_max = float(llr_max)
        nbps = getattr(encoder, "num_bits_per_symbol", None)
        self._deint = None if nbps is None else np.asarray(encoder.out_int_inv.cpu().numpy(), dtype=np.int64)
        self._int = None if nbps is None else np.asarray(encoder.out_int.cpu().numpy(), dtype=np.int64)
        self.last_num_iter: float = float("nan")
        self.last_converged: np.ndarray | None = None
        self.last_iters: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.graph.k

    @property
    def n(self) -> int:
        return self.graph.n

    def decode_numpy(
        self, llr: np.ndarray, lifted: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """llr: [B, n] float32 logits -> (bits, iterations [B] int32, converged [B] bool).

        bits: [B, k] information bits (or [B, n] codeword bits with ``return_infobits=False``); with
        ``lifted=True`` the decisions on all [B, num_vars] lifted positions the engine keeps (for syndrome
        tests).
        "converged" means the returned decisions satisfy every (unpruned) parity check.
        """
        g = self.graph
        llr = np.ascontiguousarray(llr, dtype=np.float32)
        if self._deint is not None:
            llr = np.ascontiguousarray(llr[:, self._deint])
        nb = llr.shape[0]
        if lifted:
            k_out = g.num_vars
        else:
            k_out = g.k if self.return_infobits else g.k_ldpc + (g.n - (g.k - 2 * g.z))
        bits = np.empty((nb, k_out), dtype=np.float32)
        iters = np.zeros(nb, dtype=np.int32)
        conv = np.zeros(nb, dtype=np.uint8)
        if nb:
            prev = None
            if self.num_threads is not None:
                import numba

                prev = numba.get_num_threads()
                numba.set_num_threads(min(int(self.num_threads), numba.config.NUMBA_NUM_THREADS))
            try:
                self._run_kernel(llr, k_out, bits, iters, conv)
            finally:
                if prev is not None:
                    import numba

                    numba.set_num_threads(prev)
        if not self.return_infobits and not lifted:
            bits = self._codeword_bits(bits)
        return bits, iters, conv.astype(bool)

    def _run_kernel(
        self, llr: np.ndarray, k_out: int, bits: np.ndarray, iters: np.ndarray, conv: np.ndarray
    ) -> None:
        """Decode llr [B, n] (de-interleaved) into bits [B, k_out], iters [B], conv [B] (uint8) in place."""
        from kbsc.nrlink.ldpc import kernels  # lazy: that module imports this one

        g = self.graph
        kernels.decode_batch(
            llr,
            g.src_idx,
            g.row_ptr,
            g.edge_col,
            g.edge_shift,
            g.z,
            g.last_rows,
            g.max_row_degree,
            k_out,
            SCHEDULES[self.schedule],
            self.num_iter,
            np.float32(self.llr_max),
            self.early_stop,
            np.float32(self.offset),
            bits,
            iters,
            conv,
        )

    def _codeword_bits(self, lifted: np.ndarray) -> np.ndarray:
        """[B, k_ldpc + parity] lifted prefix -> [B, n] rate-matched (and interleaved) codeword bits."""
        g = self.graph
        cw = np.concatenate([lifted[:, 2 * g.z : g.k], lifted[:, g.k_ldpc :]], axis=1)[:, : g.n]
        if self._int is not None:
            cw = cw[:, self._int]
        return np.ascontiguousarray(cw)

    def forward(self, llr: torch.Tensor) -> torch.Tensor:
        """llr: [..., n] float32 logits -> [..., k] (or [..., n]) float32 hard bits."""
        if llr.shape[-1] != self.n:
            raise ConfigError(f"LDPC decoder input has length {llr.shape[-1]}, expected n={self.n}")
        lead = list(llr.shape[:-1])
        flat = llr.detach().reshape(-1, self.n).to(torch.float32).cpu().numpy()
        bits, iters, conv = self.decode_numpy(flat)
        self.last_iters = iters
        self.last_converged = conv
        self.last_num_iter = float(iters.mean()) if iters.size else 0.0
        out = torch.from_numpy(bits).to(llr.device)
        return out.reshape(lead + [bits.shape[-1]])


class LaneLDPC5GDecoder(FastLDPC5GDecoder):
    """Frame-vectorized layered min-sum decoder (kernels generated per row degree, see lanes.py).

    Check messages are ±max(alpha·min - offset, 0): alpha = 1 is offset min-sum (same decisions as schedule
    "layered-oms" for the same offset), offset = 0 normalized min-sum. ``quantized=True`` keeps messages in
    int8 and the posterior in int16, LLRs in units of 1/``scale`` (offset min-sum only; alpha must be 1).
    Early termination refills converged lanes with waiting codewords.

    ``boxplus=True`` replaces the row's minima by the boxplus of the two smallest other inputs (a linearised
    correction term): closer to sum-product at the cost of a few operations per row. With ``fixed_point=True``
    it runs in int16 (posterior and messages in units of 1/32, 64 lanes): the same algorithm as the float
    version up to rounding, twice the lanes per instruction.

    Args (beyond FastLDPC5GDecoder's): alpha, offset, boxplus, quantized, scale, fixed_point.
    """

    #: Fixed-point unit of ``fixed_point=True`` (LLR · 32 in int16; lanes.py's ``_gq`` assumes it).
    FIXED_SCALE = 32.0
    #: alpha·b is computed as b - (b·num) >> ALPHA_SHIFT with num = round((1 - alpha)·2^ALPHA_SHIFT).
    ALPHA_SHIFT = ALPHA_SHIFT

    def __init__(
        self,
        encoder,
        num_iter: int = 20,
        alpha: float = 1.0,
        offset: float = 0.5,
        boxplus: bool = False,
        quantized: bool = False,
        scale: float = 2.0,
        fixed_point: bool = False,
        early_stop: bool = True,
        return_infobits: bool = True,
        hard_out: bool = True,
        num_threads: int | None = None,
        llr_max: float = LLR_MAX,
        name: str = "lanes",
    ) -> None:
        super().__init__(
            encoder,
            schedule="layered-oms",
            num_iter=num_iter,
            offset=offset,
            early_stop=early_stop,
            return_infobits=return_infobits,
            hard_out=hard_out,
            num_threads=num_threads,
            llr_max=llr_max,
        )

        degrees = set(np.diff(self.graph.row_ptr).tolist())
        if not degrees <= set(DEGREES):
            raise ConfigError(f"row degrees {sorted(degrees - set(DEGREES))} have no generated lane kernel")
        if not 0.0 < float(alpha) <= 1.0 or float(offset) < 0.0:
            raise ConfigError(
                f"min-sum needs 0 < alpha <= 1 and offset >= 0, got alpha={alpha}, offset={offset}"
            )
        if quantized and (float(alpha) != 1.0 or boxplus or not 0.0 < float(scale) * float(llr_max) <= 127.0):
            raise ConfigError(
                "the quantized decoder is offset min-sum (alpha=1) with |LLR|·scale <= 127; "
                f"got alpha={alpha}, scale={scale}, llr_max={llr_max}"
            )
        alpha_num = round((1.0 - float(alpha)) * 2**self.ALPHA_SHIFT)
        if fixed_point and (quantized or not boxplus or alpha_num * 1024 >= 32768):
            raise ConfigError(
                "the fixed-point decoder is corrected min-sum (boxplus=True, not quantized) "
                f"with alpha >= 0.875; got alpha={alpha}, boxplus={boxplus}, "
                f"quantized={quantized}"
            )
        self.fixed_point = bool(fixed_point)
        self._alpha_num = int(alpha_num)
        self.schedule = str(name)
        self.alpha = float(alpha)
        self.quantized = bool(quantized)
        self.boxplus = bool(boxplus)
        self.scale = float(scale)

    def _run_kernel(
        self, llr: np.ndarray, k_out: int, bits: np.ndarray, iters: np.ndarray, conv: np.ndarray
    ) -> None:
        import numba

        mod = load_kernels()
        g = self.graph
        workers = max(1, min(numba.get_num_threads(), llr.shape[0]))
        corr = np.float32(1.0 if self.boxplus else 0.0)
        scale = np.float32(self.scale)
        if self.fixed_point:
            # int16 throughout (lanes.py, kind "c"): alpha -> numerator of 1 - alpha; its shift, ALPHA_SHIFT,
            # is a constant of the generated code, so corr is not read. Offset and LLRs on the 1/32 grid.
            fn, alpha, beta = (
                mod.decode_lanes_c,
                np.int16(self._alpha_num),
                np.int16(round(self.offset * self.FIXED_SCALE)),
            )
            scale = np.float32(self.FIXED_SCALE)
        elif self.quantized:
            fn, alpha, beta = mod.decode_lanes_i, np.float32(1.0), np.int16(round(self.offset * self.scale))
        else:
            fn, alpha, beta = mod.decode_lanes_f, np.float32(self.alpha), np.float32(self.offset)
        fn(
            llr,
            g.src_idx,
            g.row_ptr,
            g.edge_col,
            g.edge_shift,
            g.z,
            g.last_rows,
            k_out,
            self.num_iter,
            np.float32(self.llr_max),
            self.early_stop,
            alpha,
            beta,
            corr,
            scale,
            workers,
            bits,
            iters,
            conv,
        )
