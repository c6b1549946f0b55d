"""AWGN BLER thresholds of the NR link for link adaptation (``hevc+ldpc-amc``): per (MCS table, BLER
target, k, MCS) the Es/N0 at which the link's own transport-block error rate crosses the target.

Method (``calibrate_threshold``): the link of :class:`~kbsc.nrlink.link.NRLink` (same TB coding, QAM,
bridge with perfect CSI on AWGN, LDPC decoder and iterations as the experiments) sends ``n_tb`` random
transport blocks per SNR point. The same blocks and the same unit noise (realization keys) are used at every
SNR (common random numbers), so the measured BLER is a nearly monotone function of the SNR and a search over
it is well defined. The search starts at the Shannon SNR of the MCS's spectral efficiency plus a gap (the
previous MCS's measured gap), walks in ``step_db`` steps until the target is bracketed, bisects down to
``resolution_db`` and interpolates log(BLER) linearly inside the last bracket (BLER smoothed as
(errors + 0.5) / (n + 1) so that a bracket end with zero errors stays finite).

Thresholds are stored in ``amc_thresholds.json`` (next to this module) with their provenance; see
docs/concepts/systems/conventional.md. ``kbsc calibrate-amc`` (:mod:`kbsc.cli.baselines`) runs the
calibration.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.errors import ConfigError, DataError
from kbsc.nrlink.link import DEFAULT_DECODER, NRLink
from kbsc.nrlink.mcs import mcs_entry, plan_tb

__all__ = [
    "CALIBRATION_KS",
    "THRESHOLDS_FILE",
    "ThresholdTable",
    "calibrate",
    "calibrate_threshold",
    "load_thresholds",
    "measure_bler",
    "shannon_snr_db",
]

#: k of the grid's CBRs 1/48, 1/24, 1/8, 1/4, 1/2 at n = 3072
CALIBRATION_KS = (64, 128, 384, 768, 1536)
THRESHOLDS_FILE = Path(__file__).with_name("amc_thresholds.json")
#: realization seed and payload seed of the calibration (distinct from the experiments' seeds)
CALIBRATION_SEED = 20261201
#: image ids of the calibration blocks start here (any ids would do on AWGN)
ID_OFFSET = 1 << 40
MAX_SNR_DB = 40.0
MIN_SNR_DB = -15.0


def shannon_snr_db(spectral_efficiency: float) -> float:
    """Es/N0 in dB at which the AWGN capacity log2(1 + SNR) equals ``spectral_efficiency`` bits per RE."""
    return 10.0 * math.log10(2.0 ** float(spectral_efficiency) - 1.0)


def measure_bler(link, bridge, bits: np.ndarray, ids: np.ndarray, snr_db: float) -> int:
    """Number of TB errors (CRC fails) of ``bits`` uint8 ``[B, tb_size]`` sent on ``ids`` at ``snr_db``."""
    res = link.run(bits, bridge, ids, float(snr_db))
    return int((~res.crc_ok).sum())


@dataclass
class _Search:
    target: float
    n: int
    points: dict[float, int]

    def smoothed(self, snr: float) -> float:
        return (self.points[snr] + 0.5) / (self.n + 1.0)

    def above(self, snr: float) -> bool:
        return self.points[snr] / self.n > self.target


def calibrate_threshold(
    k: int,
    mcs: int,
    target: float = 0.1,
    n_tb: int = 200,
    table: int = 1,
    decoder: str | None = None,
    num_iter: int = 20,
    seed: int = CALIBRATION_SEED,
    start_db: float | None = None,
    step_db: float = 1.0,
    resolution_db: float = 0.5,
    measure: Callable[[float], int] | None = None,
) -> dict[str, Any]:
    """Es/N0 (dB) at which the AWGN BLER of the (k, MCS) link crosses ``target``; see the module docstring.

    ``measure(snr_db) -> errors out of n_tb`` replaces the link (for tests of the search). Returns a record
    ``{k, mcs, mcs_table, bler_target, tb_size, snr_db, points: [[snr_db, errors, n_tb], …]}``.
    """

    if not 0.0 < float(target) < 1.0:
        raise ConfigError(f"bler_target must be in (0, 1), got {target}")
    if int(n_tb) < 10:
        raise ConfigError(f"at least 10 transport blocks per SNR point are needed, got {n_tb}")
    plan = plan_tb(k, mcs, table)
    if measure is None:
        from kbsc.bridge import Bridge  # lazy: only this path needs it

        link = NRLink(k, mcs, table, decoder or DEFAULT_DECODER, num_iter)
        bridge = Bridge(channel="awgn", csi="perfect", seed=int(seed))
        rng = np.random.default_rng([int(seed), int(k), int(mcs), int(table)])
        bits = rng.integers(0, 2, size=(int(n_tb), link.payload_bits), dtype=np.uint8)
        ids = ID_OFFSET + np.arange(int(n_tb), dtype=np.int64)

        def measure(snr: float) -> int:
            return measure_bler(link, bridge, bits, ids, snr)

    s = _Search(float(target), int(n_tb), {})

    def at(snr: float) -> bool:
        snr = round(float(snr), 6)
        if snr not in s.points:
            s.points[snr] = int(measure(snr))
        return s.above(snr)

    x = float(start_db) if start_db is not None else shannon_snr_db(plan.mcs.spectral_efficiency) + 1.5
    x = round(x / resolution_db) * resolution_db
    if at(x):
        lo = x
        while at(lo + step_db):
            lo += step_db
            if lo > MAX_SNR_DB:
                raise DataError(f"BLER of k={k} MCS {mcs} stays above {target} up to {MAX_SNR_DB} dB")
        hi = lo + step_db
    else:
        hi = x
        while not at(hi - step_db):
            hi -= step_db
            if hi < MIN_SNR_DB:
                raise DataError(f"BLER of k={k} MCS {mcs} is below {target} even at {MIN_SNR_DB} dB")
        lo = hi - step_db
    while hi - lo > resolution_db + 1e-9:
        mid = round((lo + hi) / 2, 6)
        if at(mid):
            lo = mid
        else:
            hi = mid
    lo, hi = round(lo, 6), round(hi, 6)
    p_lo, p_hi = math.log(s.smoothed(lo)), math.log(s.smoothed(hi))
    t = math.log(float(target))
    frac = 1.0 if p_lo <= p_hi else min(max((p_lo - t) / (p_lo - p_hi), 0.0), 1.0)
    return {
        "k": int(k),
        "mcs": int(mcs),
        "mcs_table": int(table),
        "bler_target": float(target),
        "tb_size": int(plan.tb_size),
        "snr_db": round(lo + frac * (hi - lo), 3),
        "points": [[snr, e, int(n_tb)] for snr, e in sorted(s.points.items())],
    }


def calibrate(
    ks: Iterable[int],
    mcs_set: Iterable[int],
    target: float = 0.1,
    n_tb: int = 200,
    table: int = 1,
    decoder: str | None = None,
    num_iter: int = 20,
    seed: int = CALIBRATION_SEED,
    resolution_db: float = 0.5,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Thresholds of every (k, MCS); per k the MCS run in increasing order and each search starts from the
    previous MCS's gap to the Shannon SNR (a good guess, so 3–5 SNR points per MCS)."""

    out = []
    for k in ks:
        gap = 3.0
        for m in sorted(set(int(i) for i in mcs_set)):
            se = mcs_entry(m, table).spectral_efficiency
            rec = calibrate_threshold(
                k,
                m,
                target,
                n_tb,
                table,
                decoder,
                num_iter,
                seed,
                start_db=shannon_snr_db(se) + gap,
                resolution_db=resolution_db,
            )
            gap = rec["snr_db"] - shannon_snr_db(se)
            out.append(rec)
            if log:
                log(
                    f"k={k:5d} MCS {m:2d} TB {rec['tb_size']:5d} bits: {rec['snr_db']:7.2f} dB "
                    f"({len(rec['points'])} points)"
                )
    return out


def _key(rec: dict[str, Any]) -> tuple[int, float, int, int]:
    return (int(rec["mcs_table"]), float(rec["bler_target"]), int(rec["k"]), int(rec["mcs"]))


def merge_into(path: Path, records: list[dict[str, Any]], run: dict[str, Any]) -> Path:
    """Add ``records`` (replacing the same table/target/k/MCS) and their ``run`` provenance to ``path``
    (written atomically)."""
    path = Path(path)
    doc: dict[str, Any] = {"runs": [], "thresholds": []}
    if path.exists():
        doc = json.loads(path.read_text())
    doc["description"] = (
        "Es/N0 (dB) at which the AWGN transport-block error rate of the NR link (kbsc.nrlink.link, "
        "perfect CSI) crosses bler_target, per MCS table, k (data REs per TB) and MCS; made by "
        "kbsc.nrlink.amc_calibration (see its docstring). points = [snr_db, TB errors, TBs]."
    )
    doc["runs"].append(run)
    run_index = len(doc["runs"]) - 1
    new = {_key(r): {**r, "run": run_index} for r in records}
    kept = [r for r in doc["thresholds"] if _key(r) not in new]
    doc["thresholds"] = sorted(kept + list(new.values()), key=_key)
    rows = ",\n".join("  " + json.dumps(r) for r in doc["thresholds"])  # one threshold per line
    text = (
        "{\n"
        f' "description": {json.dumps(doc["description"])},\n'
        f' "runs": {json.dumps(doc["runs"], indent=1)},\n'
        f' "thresholds": [\n{rows}\n ]\n'
        "}\n"
    )
    json.loads(text)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


class ThresholdTable:
    """Lookup of calibrated thresholds: ``threshold(k, mcs, target, table)`` in dB.

    A k that was not calibrated uses the largest calibrated k below it: shorter blocks need more SNR, so
    this errs on the safe side (a lower MCS). A k below every calibrated k is refused.
    """

    def __init__(self, records: list[dict[str, Any]], source: str = "", decoders: Iterable[str] = ()) -> None:
        self.source = source
        #: the LDPC decoders the thresholds were measured with (a BLER threshold belongs to its decoder)
        self.decoders = sorted(set(decoders))
        self._t: dict[tuple[int, float, int, int], float] = {_key(r): float(r["snr_db"]) for r in records}

    def ks(self, target: float, table: int = 1) -> list[int]:
        return sorted({k for (tb, tg, k, _m) in self._t if tb == table and math.isclose(tg, target)})

    def uncalibrated(self, mcs_set: Iterable[int], target: float, table: int = 1) -> list[int]:
        """The MCS of ``mcs_set`` that have no threshold at any k (for ``target`` and ``table``)."""
        have = {m for (tb, tg, _k, m) in self._t if tb == table and math.isclose(tg, target)}
        return sorted(int(m) for m in mcs_set if int(m) not in have)

    def calibrated_k(self, k: int, target: float, table: int = 1) -> int:
        ks = self.ks(target, table)
        if not ks:
            raise ConfigError(
                f"no AMC thresholds for BLER target {target:g} (MCS table {table}) in {self.source}; "
                f"run `kbsc calibrate-amc --bler-target {target:g}`"
            )
        below = [c for c in ks if c <= int(k)]
        if not below:
            raise ConfigError(
                f"AMC thresholds are calibrated for k ≥ {ks[0]} only, the cell has k={k}; "
                f"run `kbsc calibrate-amc --k {k}`"
            )
        return below[-1]

    def threshold(self, k: int, mcs: int, target: float = 0.1, table: int = 1) -> float:
        kc = self.calibrated_k(k, target, table)
        for (tb, tg, kk, m), v in self._t.items():
            if tb == table and kk == kc and m == int(mcs) and math.isclose(tg, target):
                return v
        raise ConfigError(
            f"no AMC threshold for MCS {mcs} at k={kc} (target {target:g}, table {table}) in {self.source}; "
            f"run `kbsc calibrate-amc --k {kc} --mcs {mcs}`"
        )


def load_thresholds(path: str | Path | None = None) -> ThresholdTable:
    """The committed threshold table (or the one at ``path``)."""
    p = Path(path) if path is not None else THRESHOLDS_FILE
    if not p.exists():
        raise ConfigError(f"AMC threshold file {p} does not exist; run `kbsc calibrate-amc`")
    try:
        doc = json.loads(p.read_text())
        runs = list(doc.get("runs", []))
        used = {int(r["run"]) for r in doc["thresholds"] if "run" in r}
        decoders = [
            str(runs[i]["decoder"]) for i in sorted(used) if 0 <= i < len(runs) and "decoder" in runs[i]
        ]
        return ThresholdTable(list(doc["thresholds"]), str(p), decoders)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"AMC threshold file {p} is not a threshold table: {exc}") from None
