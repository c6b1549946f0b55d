"""Cross-check of the link adaptation against Sionna's own link abstraction (``sionna.sys``).

* :func:`threshold_comparison`: per (k, MCS) our AWGN threshold (the Es/N0 where the link's measured TB
  error rate crosses the target, :mod:`kbsc.nrlink.amc_calibration`) against the SNR where Sionna's
  ``PHYAbstraction`` BLER tables (PDSCH, table 1, its TB size for k REs) reach the same target.
* :func:`mcs_agreement`: on the same fading realizations (the bridge's receiver SINR per RE), our choice
  (MIESM + our thresholds, :func:`kbsc.baselines.amc.choose_mcs`) against Sionna's inner-loop link adaptation
  (``InnerLoopLinkAdaptation``: EESM with its per-MCS β, then its BLER tables): the share of identical MCS
  and the mean difference of the effective SNRs (ours minus Sionna's, both of our chosen MCS).
"""

from __future__ import annotations

import numpy as np
import torch

from kbsc.baselines.amc import choose_mcs
from kbsc.nrlink.amc_calibration import load_thresholds

__all__ = ["mcs_agreement", "sionna_threshold_db", "threshold_comparison"]

#: PDSCH (mcs_category 1): our MCS tables are the PDSCH ones
_CATEGORY = 1


def _phy():
    from sionna.sys import PHYAbstraction

    return PHYAbstraction(device="cpu")


def sionna_threshold_db(phy, k: int, mcs: int, target: float = 0.1, table: int = 1) -> float:
    """SNR (dB, 0.05 dB grid) where Sionna's TB BLER table for ``mcs`` with ``k`` REs falls to ``target``
    (NaN where its tables, which start at −5 dB, never reach a defined value at or below the target)."""
    grid = np.round(np.arange(-10.0, 30.0, 0.05), 2)
    sinr = torch.tensor(10.0 ** (grid / 10.0), dtype=torch.float32)
    n = len(grid)
    with torch.no_grad():
        out = phy(
            mcs_index=torch.full((n,), int(mcs), dtype=torch.int32),
            sinr_eff=sinr,
            num_allocated_re=torch.full((n,), int(k), dtype=torch.int32),
            mcs_table_index=table,
            mcs_category=_CATEGORY,
        )
    tbler = out[3].numpy()
    ok = np.flatnonzero(tbler <= target)
    return float(grid[ok[0]]) if len(ok) else float("nan")


def threshold_comparison(ks, mcs_set, target: float = 0.1, table: int = 1) -> list[dict]:
    """Rows {k, mcs, ours_db, sionna_db, diff_db} for every calibrated (k, MCS)."""

    thr = load_thresholds()
    phy = _phy()
    rows = []
    for k in ks:
        for m in mcs_set:
            ours = thr.threshold(k, m, target, table)
            theirs = sionna_threshold_db(phy, k, m, target, table)
            rows.append({"k": k, "mcs": m, "ours_db": ours, "sionna_db": theirs, "diff_db": ours - theirs})
    return rows


def mcs_agreement(sinr: np.ndarray, k: int, mcs_set, target: float = 0.1, table: int = 1) -> dict:
    """Our vs Sionna's MCS choice on per-RE SINRs float ``[B, k]`` (linear): share identical, mean |Δ index|,
    mean effective-SNR difference (our MIESM minus Sionna's EESM, dB, at our chosen MCS)."""
    from sionna.sys import EESM, InnerLoopLinkAdaptation

    ours, eff_ours = choose_mcs(sinr, k, list(mcs_set), load_thresholds(), target, table)
    phy = _phy()
    s = torch.tensor(np.asarray(sinr), dtype=torch.float32)[:, None, :, None, None]  # [B, 1 sym, k, 1 UT, 1]
    illa = InnerLoopLinkAdaptation(phy, bler_target=target, device="cpu")
    with torch.no_grad():
        theirs = illa(sinr=s, mcs_table_index=table, mcs_category=_CATEGORY).reshape(-1).numpy()
        eff = EESM(device="cpu")(
            s,
            mcs_index=torch.as_tensor(ours, dtype=torch.int32)[:, None],
            mcs_table_index=table,
            mcs_category=torch.full((len(s), 1), _CATEGORY),
        )
    eff_theirs = 10.0 * np.log10(np.clip(eff.reshape(-1).numpy(), 1e-12, None))
    allowed = np.array(sorted(set(int(m) for m in mcs_set)))
    # Sionna picks from the whole table: map its choice down to the highest MCS of the set not above it
    pos = np.searchsorted(allowed, theirs, side="right") - 1
    theirs_set = allowed[np.clip(pos, 0, None)]
    return {
        "n": int(len(ours)),
        "same_share": float(np.mean(ours == theirs_set)),
        "mean_abs_index_diff": float(np.mean(np.abs(ours - theirs_set))),
        "mean_index_diff": float(np.mean(ours - theirs_set)),
        "mean_eff_diff_db": float(np.mean(eff_ours - eff_theirs)),
    }
