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
from numba import njit, prange

_OPTS = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)

# Sionna's float32 clamps of phi's argument (decoding.py, cn_update_phi).
PHI_MIN = np.float32(8.5e-8)
PHI_MAX = np.float32(16.635532)


@njit(**_OPTS)
def _phi(x):
    """phi(x) = -log(tanh(x/2)) = log((e^x+1)/(e^x-1)), argument clamped as in Sionna (float32)."""
    if x < PHI_MIN:
        x = PHI_MIN
    elif x > PHI_MAX:
        x = PHI_MAX
    ex = np.exp(x)
    return np.log((ex + np.float32(1.0)) / (ex - np.float32(1.0)))


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
def _syndrome_ok(post, row_ptr, edge_col, edge_shift, z, last_rows, par):
    """True iff the hard decisions (post <= 0 -> 1) satisfy every active check. par: [z] uint8 scratch."""
    nrb = row_ptr.shape[0] - 1
    for r in range(nrb):
        for t in range(z):
            par[t] = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            base = edge_col[e] * z
            s = edge_shift[e]
            for t in range(z - s):
                par[t] ^= np.uint8(post[base + s + t] <= 0)
            for t in range(z - s, z):
                par[t] ^= np.uint8(post[base + s + t - z] <= 0)
        nrows = z if r < nrb - 1 else last_rows
        acc = 0
        for t in range(nrows):
            acc |= par[t]
        if acc != 0:
            return False
    return True


@njit(**_OPTS)
def _decode_flooding(llr, row_ptr, edge_col, edge_shift, z, last_rows, num_iter, llr_max, early_stop,
                     V, C, P, tot, S, SG, par):
    """Flooding sum-product on one codeword; llr: [num_vars] true LLRs. Returns (iterations, converged).

    V, C: [E, z] v2c / c2v messages; P: [max_deg, z]; tot: [num_vars] posterior (ends as the decision LLR).
    """
    nrb = row_ptr.shape[0] - 1
    nv = llr.shape[0]
    # Initial v2c messages = channel LLRs.
    for e in range(row_ptr[nrb]):
        base = edge_col[e] * z
        s = edge_shift[e]
        for t in range(z - s):
            V[e, t] = llr[base + s + t]
        for t in range(z - s, z):
            V[e, t] = llr[base + s + t - z]
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
                e = e0 + j
                for t in range(z):
                    x = V[e, t]
                    ph = _phi(abs(x))
                    P[j, t] = ph
                    S[t] += ph
                    SG[t] *= -one if x < 0 else one
            for j in range(deg):
                e = e0 + j
                for t in range(z):
                    x = V[e, t]
                    m = _phi(S[t] - P[j, t]) * SG[t]
                    m = -m if x < 0 else m
                    if m > llr_max:
                        m = llr_max
                    elif m < -llr_max:
                        m = -llr_max
                    C[e, t] = m
        # Variable-node update.
        for i in range(nv):
            tot[i] = llr[i]
        for e in range(row_ptr[nrb]):
            base = edge_col[e] * z
            s = edge_shift[e]
            for t in range(z - s):
                tot[base + s + t] += C[e, t]
            for t in range(z - s, z):
                tot[base + s + t - z] += C[e, t]
        for e in range(row_ptr[nrb]):
            base = edge_col[e] * z
            s = edge_shift[e]
            for t in range(z - s):
                v = tot[base + s + t] - C[e, t]
                V[e, t] = min(max(v, -llr_max), llr_max)
            for t in range(z - s, z):
                v = tot[base + s + t - z] - C[e, t]
                V[e, t] = min(max(v, -llr_max), llr_max)
        if early_stop and _syndrome_ok(tot, row_ptr, edge_col, edge_shift, z, last_rows, par):
            converged = True
            break
    if not converged and not early_stop:
        converged = _syndrome_ok(tot, row_ptr, edge_col, edge_shift, z, last_rows, par)
    return it, converged


@njit(**_OPTS)
def _decode_layered(L, row_ptr, edge_col, edge_shift, z, last_rows, num_iter, llr_max, early_stop, min_sum,
                    offset, R, Q, P, S, SG, M1, M2, IDX, par):
    """Layered (row-block) decoding of one codeword in place on the posterior L: [num_vars].

    min_sum: offset min-sum check update, else exact boxplus (phi). R: [E, z] c2v messages (zeroed here);
    Q, P: [max_deg, z] scratch. Returns (iterations, converged).
    """
    nrb = row_ptr.shape[0] - 1
    one = np.float32(1.0)
    zero = np.float32(0.0)
    big = np.float32(3.0e38)
    for e in range(row_ptr[nrb]):
        for t in range(z):
            R[e, t] = zero
    it = 0
    converged = False
    while it < num_iter:
        it += 1
        for r in range(nrb):
            e0 = row_ptr[r]
            deg = row_ptr[r + 1] - e0
            # q = L - R (exact), gathered into check order.
            for j in range(deg):
                e = e0 + j
                base = edge_col[e] * z
                s = edge_shift[e]
                for t in range(z - s):
                    Q[j, t] = L[base + s + t] - R[e, t]
                for t in range(z - s, z):
                    Q[j, t] = L[base + s + t - z] - R[e, t]
            for t in range(z):
                SG[t] = one
            if min_sum:
                for t in range(z):
                    M1[t] = big
                    M2[t] = big
                    IDX[t] = 0
                for j in range(deg):
                    for t in range(z):
                        x = Q[j, t]
                        a = min(abs(x), llr_max)  # clip only the check-node input
                        SG[t] *= -one if x < 0 else one
                        m1 = M1[t]
                        is_new = a < m1
                        M2[t] = m1 if is_new else min(M2[t], a)
                        M1[t] = a if is_new else m1
                        IDX[t] = j if is_new else IDX[t]
                for t in range(z):
                    M1[t] = max(M1[t] - offset, zero)
                    M2[t] = max(M2[t] - offset, zero)
                for j in range(deg):
                    e = e0 + j
                    for t in range(z):
                        x = Q[j, t]
                        m = M2[t] if IDX[t] == j else M1[t]
                        m = m * SG[t]
                        P[j, t] = -m if x < 0 else m
            else:
                for t in range(z):
                    S[t] = zero
                for j in range(deg):
                    for t in range(z):
                        x = Q[j, t]
                        ph = _phi(min(abs(x), llr_max))
                        P[j, t] = ph
                        S[t] += ph
                        SG[t] *= -one if x < 0 else one
                for j in range(deg):
                    for t in range(z):
                        x = Q[j, t]
                        m = min(_phi(S[t] - P[j, t]), llr_max) * SG[t]
                        P[j, t] = -m if x < 0 else m
            # Write back: R = new message, L = q + R (posterior stays exact).
            for j in range(deg):
                e = e0 + j
                base = edge_col[e] * z
                s = edge_shift[e]
                for t in range(z):
                    R[e, t] = P[j, t]
                for t in range(z - s):
                    L[base + s + t] = Q[j, t] + P[j, t]
                for t in range(z - s, z):
                    L[base + s + t - z] = Q[j, t] + P[j, t]
        if early_stop and _syndrome_ok(L, row_ptr, edge_col, edge_shift, z, last_rows, par):
            converged = True
            break
    if not converged and not early_stop:
        converged = _syndrome_ok(L, row_ptr, edge_col, edge_shift, z, last_rows, par)
    return it, converged


@njit(parallel=True, **_OPTS)
def decode_batch(llr_in, src_idx, row_ptr, edge_col, edge_shift, z, last_rows, max_deg, k, schedule, num_iter,
                 llr_max, early_stop, offset, bits_out, iters_out, conv_out):
    """Decode a batch in parallel.

    llr_in: [B, n] float32 Sionna logits (log p(1)/p(0), de-interleaved); src_idx: [num_vars] map to the
    lifted codeword. Writes bits_out: [B, k] float32 hard information bits, iters_out: [B] int32 iterations
    used, conv_out: [B] uint8 (1 = all active checks satisfied by the returned decisions).
    """
    nb = llr_in.shape[0]
    nv = src_idx.shape[0]
    ne = edge_col.shape[0]
    llr_max = np.float32(llr_max)
    offset = np.float32(offset)
    for b in prange(nb):
        llr = np.empty(nv, dtype=np.float32)
        _fill_llr(llr_in, b, src_idx, llr_max, llr)
        R = np.empty((ne, z), dtype=np.float32)
        P = np.empty((max_deg, z), dtype=np.float32)
        S = np.empty(z, dtype=np.float32)
        SG = np.empty(z, dtype=np.float32)
        par = np.empty(z, dtype=np.uint8)
        if schedule == 0:
            V = np.empty((ne, z), dtype=np.float32)
            tot = np.empty(nv, dtype=np.float32)
            it, ok = _decode_flooding(llr, row_ptr, edge_col, edge_shift, z, last_rows, num_iter, llr_max,
                                      early_stop, V, R, P, tot, S, SG, par)
            post = tot
        else:
            Q = np.empty((max_deg, z), dtype=np.float32)
            M1 = np.empty(z, dtype=np.float32)
            M2 = np.empty(z, dtype=np.float32)
            IDX = np.empty(z, dtype=np.int64)
            it, ok = _decode_layered(llr, row_ptr, edge_col, edge_shift, z, last_rows, num_iter, llr_max,
                                     early_stop, schedule == 2, offset, R, Q, P, S, SG, M1, M2, IDX, par)
            post = llr
        for i in range(k):
            bits_out[b, i] = np.float32(1.0) if post[i] <= 0 else np.float32(0.0)
        iters_out[b] = it
        conv_out[b] = np.uint8(1) if ok else np.uint8(0)
