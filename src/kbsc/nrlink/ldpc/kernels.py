"""numba kernels of the quasi-cyclic 5G LDPC decoding engine.

Per codeword the messages live in ``[num_edges, z]`` arrays (edge = base-graph entry): every update is a
contiguous loop over the lifting size, split in two at ``z - shift`` so that the cyclic shift never needs a
computed index (that, and numba's default ``error_model='python'``, block SIMD vectorisation). Codewords
run in parallel with ``prange``. LLRs here are "true" LLRs, log p(0)/p(1) (Sionna's inputs negated); a bit
decides 1 when its posterior is <= 0, as in Sionna.

Schedules: 0 = flooding sum-product (mirrors Sionna's LDPC5GDecoder with the default "boxplus-phi" check
update, its clamps and ±llr_max clipping), 1 = layered sum-product, 2 = layered offset min-sum. The layered
schedules keep the running posterior exact (L = q + R_new with the unclipped q) and clip only the
check-node input.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

_OPTS = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)
_INLINE = dict(_OPTS, inline="always")


@intrinsic
def _f2i(typingctx, x):
    """Bits of a float32 as int32 (a plain LLVM bitcast: vectorises, unlike a round trip through memory)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _i2f(typingctx, x):
    """int32 bits as a float32 (LLVM bitcast)."""
    if x != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


# Sionna's float32 clamps of phi's argument (decoding.py, cn_update_phi).
PHI_MIN = np.float32(8.5e-8)
PHI_MAX = np.float32(16.635532)


LOG2E = np.float32(1.4426950408889634)
LN2 = np.float32(0.6931471805599453)
SQRT2 = np.float32(1.4142135623730951)
LN2_HI = np.float32(0.693359375)  # Cody-Waite split of ln 2 (LN2_HI has few mantissa bits: r·LN2_HI is exact)
LN2_LO = np.float32(-2.12194440e-4)

# The scalar functions below are inlined into the kernels' loops over Z; with the bit casts as LLVM bitcasts
# (no libm calls, no memory round trips) a whole check update is one vectorised loop per pass.


@njit(**_INLINE)
def _exp2i(r):
    """2^r for a float32 holding an integer in [-126, 127] (exponent bits)."""
    return _i2f(np.int32((np.int32(r) + 127) << 23))


@njit(**_INLINE)
def _log_parts(x):
    """log(x) for positive normal float32 x as (exponent e, log of the mantissa) (atanh series; ~1 ulp)."""
    one = np.float32(1.0)
    bits = _f2i(x)
    e = np.float32((bits >> 23) - 127)
    m = _i2f(np.int32((bits & 0x7FFFFF) | 0x3F800000))
    big = m > SQRT2
    m = m * np.float32(0.5) if big else m
    e = e + (one if big else np.float32(0.0))
    s = (m - one) / (m + one)
    s2 = s * s
    lm = (
        np.float32(2.0)
        * s
        * (
            one
            + s2
            * (np.float32(1 / 3) + s2 * (np.float32(0.2) + s2 * (np.float32(1 / 7) + s2 * np.float32(1 / 9))))
        )
    )
    return e, lm


@njit(**_INLINE)
def _phi_fast(x):
    """phi(x) = -log(tanh(x/2)), argument clamped as in Sionna (float32; |error| < 1e-6 where it matters).

    y = exp(-x) by 2^round · Taylor(6) on the remainder; phi = log((1+y)/(1-y)) by exponent/mantissa split and
    an atanh series on the mantissa, or 2·atanh(y) by its series when y is small.
    """
    one = np.float32(1.0)
    a = min(max(x, PHI_MIN), PHI_MAX)
    v = -a * LOG2E
    r = np.floor(v + np.float32(0.5))
    f = (v - r) * LN2
    y = one + f * (
        one
        + f
        * (
            np.float32(0.5)
            + f
            * (
                np.float32(1 / 6)
                + f * (np.float32(1 / 24) + f * (np.float32(1 / 120) + f * np.float32(1 / 720)))
            )
        )
    )
    y = y * _exp2i(r)
    e, lm = _log_parts((one + y) / (one - y))
    lg = e * LN2 + lm
    y2 = y * y
    sr = (
        np.float32(2.0)
        * y
        * (
            one
            + y2
            * (np.float32(1 / 3) + y2 * (np.float32(0.2) + y2 * (np.float32(1 / 7) + y2 * np.float32(1 / 9))))
        )
    )
    return sr if y < np.float32(0.17) else lg


@njit(**_INLINE)
def _exp_s(a):
    """exp(a) for |a| < 80 (range reduction by Cody-Waite, degree-7 Taylor; ~1 ulp)."""
    one = np.float32(1.0)
    r = np.floor(a * LOG2E + np.float32(0.5))
    f = (a - r * LN2_HI) - r * LN2_LO
    p = np.float32(1 / 120) + f * (np.float32(1 / 720) + f * np.float32(1 / 5040))
    p = np.float32(1 / 24) + f * p
    return (one + f * (one + f * (np.float32(0.5) + f * (np.float32(1 / 6) + f * p)))) * _exp2i(r)


@njit(**_INLINE)
def _log_s(x):
    """log(x) for positive normal float32 x (~1 ulp)."""
    e, lm = _log_parts(x)
    return e * LN2_HI + (e * LN2_LO + lm)


@njit(**_INLINE)
def _phi_sionna(x):
    """phi(x) evaluated like Sionna does it in float32, log(e^x + 1) - log(e^x - 1) with its argument clamps;
    the flooding schedule uses it so that its decisions track Sionna's rounding."""
    ex = _exp_s(min(max(x, PHI_MIN), PHI_MAX))
    return _log_s(ex + np.float32(1.0)) - _log_s(ex - np.float32(1.0))


@njit(**_OPTS)
def _fill_llr(llr_in, b, src_idx, llr_max, out):
    """out[:] = lifted true-LLR vector of codeword b (input is Sionna's logit, clipped to ±llr_max)."""
    for i in range(src_idx.shape[0]):
        s = src_idx[i]
        if s >= 0:
            v = -llr_in[b, s]
            if v > llr_max:
                v = llr_max
            elif v < -llr_max:
                v = -llr_max
            out[i] = v
        elif s == -2:
            out[i] = llr_max
        else:
            out[i] = np.float32(0.0)


@njit(**_OPTS)
def _gather(post, base, s, z, out):
    """out[t] = post[base + (t + s) mod z] for t < z (two contiguous runs, loop indices start at 0)."""
    w = z - s
    a = post[base + s : base + z]
    b = post[base : base + s]
    o2 = out[w:z]
    for t in range(w):
        out[t] = a[t]
    for t in range(s):
        o2[t] = b[t]


@njit(**_OPTS)
def _syndrome_ok(post, row_ptr, edge_col, edge_shift, z, last_rows, par, hard):
    """True iff the hard decisions (post <= 0 -> 1) satisfy every active check.

    par: [z] uint8 scratch; hard: [num_vars] uint8 scratch.
    """
    nrb = row_ptr.shape[0] - 1
    for i in range(hard.shape[0]):
        hard[i] = np.uint8(1) if post[i] <= 0 else np.uint8(0)
    for r in range(nrb):
        for t in range(z):
            par[t] = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            base = edge_col[e] * z
            s = edge_shift[e]
            w = z - s
            a = hard[base + s : base + z]
            b = hard[base : base + s]
            p2 = par[w:z]
            for t in range(w):
                par[t] ^= a[t]
            for t in range(s):
                p2[t] ^= b[t]
        nrows = z if r < nrb - 1 else last_rows
        acc = np.uint8(0)
        for t in range(nrows):
            acc |= par[t]
        if acc != 0:
            return False
    return True


@njit(**_OPTS)
def _decode_flooding(
    llr,
    row_ptr,
    edge_col,
    edge_shift,
    z,
    last_rows,
    num_iter,
    llr_max,
    early_stop,
    V,
    C,
    P,
    tot,
    S,
    SG,
    par,
    hard,
):
    """Flooding sum-product on one codeword; llr: [num_vars] true LLRs. Returns (iterations, converged).

    V, C: [E, z] v2c / c2v messages; P: [max_deg, z]; tot: [num_vars] posterior (ends as the decision LLR).
    """
    nrb = row_ptr.shape[0] - 1
    ne = row_ptr[nrb]
    nv = llr.shape[0]
    for e in range(ne):  # initial v2c messages = channel LLRs
        _gather(llr, edge_col[e] * z, edge_shift[e], z, V[e])
    for i in range(nv):
        tot[i] = llr[i]
    one = np.float32(1.0)
    it = 0
    converged = False
    while it < num_iter:
        it += 1
        # Check-node update (boxplus via phi, extrinsic by subtraction, as Sionna).
        for r in range(nrb):
            e0 = row_ptr[r]
            deg = row_ptr[r + 1] - e0
            for t in range(z):
                S[t] = 0.0
                SG[t] = one
            for j in range(deg):
                v = V[e0 + j]
                p = P[j]
                for t in range(z):
                    x = v[t]
                    ph = _phi_sionna(abs(x))
                    p[t] = ph
                    S[t] += ph
                    SG[t] *= -one if x < 0 else one
            for j in range(deg):
                v = V[e0 + j]
                c = C[e0 + j]
                p = P[j]
                for t in range(z):
                    m = _phi_sionna(S[t] - p[t]) * SG[t]
                    m = -m if v[t] < 0 else m
                    c[t] = min(max(m, -llr_max), llr_max)
                if r == nrb - 1:  # rows Sionna prunes (meeting only unsent degree-1 nodes) stay silent
                    c[last_rows:] = 0.0
        # Variable-node update: posterior = (sum of c2v) + channel; v2c = posterior - own c2v (clipped).
        for i in range(nv):
            tot[i] = 0.0
        for e in range(ne):
            base = edge_col[e] * z
            s = edge_shift[e]
            w = z - s
            a = tot[base + s : base + z]
            b = tot[base : base + s]
            c = C[e]
            c2 = c[w:z]
            for t in range(w):
                a[t] += c[t]
            for t in range(s):
                b[t] += c2[t]
        for i in range(nv):
            tot[i] += llr[i]
        for e in range(ne):
            base = edge_col[e] * z
            s = edge_shift[e]
            w = z - s
            a = tot[base + s : base + z]
            b = tot[base : base + s]
            c = C[e]
            c2 = c[w:z]
            v = V[e]
            v2 = v[w:z]
            for t in range(w):
                v[t] = min(max(a[t] - c[t], -llr_max), llr_max)
            for t in range(s):
                v2[t] = min(max(b[t] - c2[t], -llr_max), llr_max)
        if early_stop and _syndrome_ok(tot, row_ptr, edge_col, edge_shift, z, last_rows, par, hard):
            converged = True
            break
    if not converged and not early_stop:
        converged = _syndrome_ok(tot, row_ptr, edge_col, edge_shift, z, last_rows, par, hard)
    return it, converged


@njit(**_OPTS)
def _check_oms(Q, P, deg, z, llr_max, offset, SG, M1, M2, IDX):
    """Offset min-sum check update: P[j] = extrinsic messages from the inputs Q[j] (clipped to ±llr_max)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    big = np.float32(3.0e38)
    for t in range(z):
        SG[t] = one
        M1[t] = big
        M2[t] = big
        IDX[t] = 0
    for j in range(deg):
        q = Q[j]
        jj = np.int32(j)
        for t in range(z):
            x = q[t]
            a = min(abs(x), llr_max)  # clip only the check-node input
            SG[t] *= -one if x < 0 else one
            m1 = M1[t]
            is_new = a < m1
            M2[t] = m1 if is_new else min(M2[t], a)
            M1[t] = a if is_new else m1
            IDX[t] = jj if is_new else IDX[t]
    for t in range(z):
        M1[t] = max(M1[t] - offset, zero) * SG[t]
        M2[t] = max(M2[t] - offset, zero) * SG[t]
    for j in range(deg):
        q = Q[j]
        p = P[j]
        jj = np.int32(j)
        for t in range(z):
            m = M2[t] if IDX[t] == jj else M1[t]
            p[t] = -m if q[t] < 0 else m


@njit(**_OPTS)
def _check_spa(Q, P, deg, z, llr_max, S, SG):
    """Exact boxplus (phi) check update: P[j] = extrinsic messages from the inputs Q[j] (clipped)."""
    one = np.float32(1.0)
    for t in range(z):
        SG[t] = one
        S[t] = np.float32(0.0)
    for j in range(deg):
        q = Q[j]
        p = P[j]
        for t in range(z):
            x = q[t]
            ph = _phi_fast(min(abs(x), llr_max))  # clip only the check-node input
            p[t] = ph
            S[t] += ph
            SG[t] *= -one if x < 0 else one
    for j in range(deg):
        q = Q[j]
        p = P[j]
        for t in range(z):
            m = min(_phi_fast(S[t] - p[t]), llr_max) * SG[t]
            p[t] = -m if q[t] < 0 else m


@njit(**_OPTS)
def _decode_layered(
    L,
    row_ptr,
    edge_col,
    edge_shift,
    z,
    last_rows,
    num_iter,
    llr_max,
    early_stop,
    min_sum,
    offset,
    R,
    Q,
    P,
    S,
    SG,
    M1,
    M2,
    IDX,
    par,
    hard,
):
    """Layered (row-block) decoding of one codeword in place on the posterior L: [num_vars].

    min_sum: offset min-sum check update, else exact boxplus (phi). R: [E, z] c2v messages (zeroed here);
    Q, P: [max_deg, z] scratch. Returns (iterations, converged).
    """
    nrb = row_ptr.shape[0] - 1
    R[:, :] = np.float32(0.0)
    it = 0
    converged = False
    while it < num_iter:
        it += 1
        for r in range(nrb):
            e0 = row_ptr[r]
            deg = row_ptr[r + 1] - e0
            for j in range(deg):  # q = L - R (exact), in check order
                e = e0 + j
                base = edge_col[e] * z
                s = edge_shift[e]
                w = z - s
                a = L[base + s : base + z]
                b = L[base : base + s]
                re = R[e]
                re2 = re[w:z]
                q = Q[j]
                q2 = q[w:z]
                for t in range(w):
                    q[t] = a[t] - re[t]
                for t in range(s):
                    q2[t] = b[t] - re2[t]
            if min_sum:
                _check_oms(Q, P, deg, z, llr_max, offset, SG, M1, M2, IDX)
            else:
                _check_spa(Q, P, deg, z, llr_max, S, SG)
            if r == nrb - 1:  # rows Sionna prunes stay silent
                P[:deg, last_rows:] = 0.0
            for j in range(deg):  # R = new message; L = q + R (posterior stays exact)
                e = e0 + j
                base = edge_col[e] * z
                s = edge_shift[e]
                w = z - s
                a = L[base + s : base + z]
                b = L[base : base + s]
                re = R[e]
                q = Q[j]
                p = P[j]
                q2 = q[w:z]
                p2 = p[w:z]
                for t in range(z):
                    re[t] = p[t]
                for t in range(w):
                    a[t] = q[t] + p[t]
                for t in range(s):
                    b[t] = q2[t] + p2[t]
        if early_stop and _syndrome_ok(L, row_ptr, edge_col, edge_shift, z, last_rows, par, hard):
            converged = True
            break
    if not converged and not early_stop:
        converged = _syndrome_ok(L, row_ptr, edge_col, edge_shift, z, last_rows, par, hard)
    return it, converged


@njit(parallel=True, **_OPTS)
def decode_batch(
    llr_in,
    src_idx,
    row_ptr,
    edge_col,
    edge_shift,
    z,
    last_rows,
    max_deg,
    k,
    schedule,
    num_iter,
    llr_max,
    early_stop,
    offset,
    bits_out,
    iters_out,
    conv_out,
):
    """Decode a batch in parallel.

    llr_in: [B, n] float32 Sionna logits (log p(1)/p(0), de-interleaved); src_idx: [num_vars] map to the
    lifted codeword; llr_max, offset: float32. Writes bits_out: [B, k] float32 hard bits (lifted order),
    iters_out: [B] int32 iterations used, conv_out: [B] uint8 (1 = all active checks satisfied).
    """
    nb = llr_in.shape[0]
    nv = src_idx.shape[0]
    ne = edge_col.shape[0]
    for b in prange(nb):
        llr = np.empty(nv, dtype=np.float32)
        _fill_llr(llr_in, b, src_idx, llr_max, llr)
        R = np.empty((ne, z), dtype=np.float32)
        P = np.empty((max_deg, z), dtype=np.float32)
        S = np.empty(z, dtype=np.float32)
        SG = np.empty(z, dtype=np.float32)
        par = np.empty(z, dtype=np.uint8)
        hard = np.empty(nv, dtype=np.uint8)
        if schedule == 0:
            V = np.empty((ne, z), dtype=np.float32)
            tot = np.empty(nv, dtype=np.float32)
            it, ok = _decode_flooding(
                llr,
                row_ptr,
                edge_col,
                edge_shift,
                z,
                last_rows,
                num_iter,
                llr_max,
                early_stop,
                V,
                R,
                P,
                tot,
                S,
                SG,
                par,
                hard,
            )
            post = tot
        else:
            Q = np.empty((max_deg, z), dtype=np.float32)
            M1 = np.empty(z, dtype=np.float32)
            M2 = np.empty(z, dtype=np.float32)
            IDX = np.empty(z, dtype=np.int32)
            it, ok = _decode_layered(
                llr,
                row_ptr,
                edge_col,
                edge_shift,
                z,
                last_rows,
                num_iter,
                llr_max,
                early_stop,
                schedule == 2,
                offset,
                R,
                Q,
                P,
                S,
                SG,
                M1,
                M2,
                IDX,
                par,
                hard,
            )
            post = llr
        out = bits_out[b]
        for i in range(k):
            out[i] = np.float32(1.0) if post[i] <= 0 else np.float32(0.0)
        iters_out[b] = it
        conv_out[b] = np.uint8(1) if ok else np.uint8(0)
