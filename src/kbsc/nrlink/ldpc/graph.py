"""Quasi-cyclic structure of a Sionna 5G LDPC code, and the map from rate-matched LLRs to the lifted codeword.

Mirrors what ``sionna.phy.fec.ldpc.LDPC5GDecoder`` does (Sionna 2.2, ``decoding.py``): undo the output
interleaver, put LLR 0 on the first 2·Z punctured systematic bits and on the untransmitted tail, a known-zero
LLR on the filler bits, and prune the trailing degree-1 parity nodes (with their check rows)
that were never sent.
Every base-graph entry is a Z×Z identity cyclically shifted by ``shift``: check row ``t`` of row block ``r``
meets variable ``col·Z + (t + shift) mod Z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kbsc.errors import ConfigError

#: Source-index codes of :attr:`QCGraph.src_idx`: position not transmitted (LLR 0) or filler (known zero).
SRC_ZERO = -1
SRC_FILLER = -2


@dataclass(frozen=True)
class QCGraph:
    """The lifted code as seen by the engine.

    Edges are sorted by row block, then column block; ``row_ptr[r]:row_ptr[r+1]`` are row block r's edges.
    Only the first ``num_row_blocks`` row blocks and ``num_col_blocks`` column blocks are active (Sionna's
    pruning rounded up to whole blocks); of the last active row block only ``last_rows`` rows are real checks.
    """

    k: int  # information bits
    n: int  # rate-matched length (decoder input)
    z: int  # lifting size
    bg: str  # "bg1" | "bg2"
    k_ldpc: int  # k + fillers
    n_ldpc: int  # lifted codeword length
    n_pruned: int  # Sionna's codeword length after pruning
    m_pruned: int  # Sionna's number of checks after pruning
    num_row_blocks: int
    num_col_blocks: int
    last_rows: int
    row_ptr: np.ndarray  # [num_row_blocks + 1] int64
    edge_col: np.ndarray  # [num_edges] int64, column block
    edge_shift: np.ndarray  # [num_edges] int64, cyclic shift in [0, z)
    src_idx: np.ndarray  # [num_col_blocks·z] int64: index into the (de-interleaved) input, or SRC_*
    max_row_degree: int

    @property
    def num_vars(self) -> int:
        """Variables the engine keeps per codeword (whole active column blocks)."""
        return self.num_col_blocks * self.z

    @property
    def num_edges(self) -> int:
        return int(self.edge_col.shape[0])


def base_matrix(encoder) -> np.ndarray:
    """[rows, cols] int64 base matrix of ``encoder`` (-1 = zero block, else shift in [0, z))."""
    bm = np.asarray(encoder._bm)  # Sionna keeps the lifted base matrix privately; no public accessor
    return np.where(bm < 0, -1, np.mod(bm, encoder.z)).astype(np.int64)


def pruning(encoder, bm: np.ndarray) -> tuple[int, int]:
    """(n_pruned, m_pruned) exactly as LDPC5GDecoder(prune_pcm=True, flooding) computes them."""
    z = encoder.z
    n_ldpc = encoder.n_ldpc
    col_deg = np.repeat((bm >= 0).sum(axis=0), z)
    last_pos = n_ldpc
    for idx in range(n_ldpc - 1, 0, -1):
        if col_deg[idx] == 1:
            last_pos = idx
        else:
            break
    k_filler = encoder.k_ldpc - encoder.k
    nb_punc = (n_ldpc - k_filler) - encoder.n - 2 * z
    n_pruned = int(max(last_pos, n_ldpc - nb_punc))
    nb_pruned = n_ldpc - n_pruned
    if nb_pruned < 0:
        raise ConfigError(f"LDPC code k={encoder.k}, n={encoder.n} is longer than its mother code; lower n")
    m_pruned = bm.shape[0] * z - nb_pruned
    return n_pruned, m_pruned


def build_graph(encoder) -> QCGraph:
    """Extract the quasi-cyclic decoding graph of a ``sionna.phy.fec.ldpc.LDPC5GEncoder``."""
    z = int(encoder.z)
    k, n = int(encoder.k), int(encoder.n)
    k_ldpc, n_ldpc = int(encoder.k_ldpc), int(encoder.n_ldpc)
    bm = base_matrix(encoder)
    n_pruned, m_pruned = pruning(encoder, bm)
    nrb = -(-m_pruned // z)
    ncb = -(-n_pruned // z)
    rows, cols = np.nonzero(bm[:nrb, :ncb] >= 0)
    if np.any(bm[:nrb, ncb:] >= 0):
        raise ConfigError("internal: an active check row meets a pruned column block")
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    row_ptr = np.zeros(nrb + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    row_ptr = np.cumsum(row_ptr)
    shifts = bm[rows, cols]

    # Map lifted position -> position in the rate-matched input (after undoing the output interleaver).
    src = np.full(ncb * z, SRC_ZERO, dtype=np.int64)
    n_sys = k - 2 * z  # transmitted systematic bits
    if n_sys < 0:
        raise ConfigError(f"LDPC code k={k} is shorter than the 2·Z={2 * z} punctured bits")
    src[2 * z : k] = np.arange(n_sys)
    src[k:k_ldpc] = SRC_FILLER
    n_par = min(n - n_sys, ncb * z - k_ldpc)
    if n_par > 0:
        src[k_ldpc : k_ldpc + n_par] = n_sys + np.arange(n_par)
    return QCGraph(
        k=k,
        n=n,
        z=z,
        bg=str(encoder._bg),
        k_ldpc=k_ldpc,
        n_ldpc=n_ldpc,
        n_pruned=n_pruned,
        m_pruned=m_pruned,
        num_row_blocks=nrb,
        num_col_blocks=ncb,
        last_rows=m_pruned - (nrb - 1) * z,
        row_ptr=row_ptr,
        edge_col=cols.astype(np.int64),
        edge_shift=shifts.astype(np.int64),
        src_idx=src,
        max_row_degree=int(np.diff(row_ptr).max()),
    )


def lifted_pcm_rows(graph: QCGraph) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) index arrays of the active lifted parity-check matrix (for tests and syndrome checks)."""
    z = graph.z
    t = np.arange(z)
    rr, cc = [], []
    for r in range(graph.num_row_blocks):
        for e in range(graph.row_ptr[r], graph.row_ptr[r + 1]):
            rr.append(r * z + t)
            cc.append(graph.edge_col[e] * z + (t + graph.edge_shift[e]) % z)
    rows, cols = np.concatenate(rr), np.concatenate(cc)
    keep = rows < graph.m_pruned
    return rows[keep], cols[keep]
