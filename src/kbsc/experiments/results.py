"""The results store: one atomic Parquet file per finished cell, assembled into the long-format tables.

``DIR/cells/<cell-hash>.parquet`` holds the cell's per-image outcomes, and its summary row as JSON in the
file's schema metadata (key ``kbsc_summary``). A cell is finished iff its file exists, so an interrupted run
loses at most the cells in flight. :func:`assemble` writes ``results.parquet``/``results.csv`` (one row per
cell, grid order) and ``outcomes.parquet`` (one row per image and cell).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kbsc.errors import DataError
from kbsc.experiments.grid import Task
from kbsc.experiments.stats import wilson
from kbsc.systems.base import Cell, Outcomes
from kbsc.util.io import atomic_write

__all__ = [
    "CELL_COLUMNS",
    "RESULT_COLUMNS",
    "assemble",
    "cell_path",
    "ebn0_db",
    "read_cell_outcomes",
    "read_cell_summary",
    "summarize",
    "t_interval",
    "write_cell",
]

CELL_COLUMNS = ["system", "dataset", "extractor", "channel", "csi", "snr_db", "cbr", "mcs", "seed"]
RESULT_COLUMNS = [
    *CELL_COLUMNS,
    "n_images",
    "acc_top1",
    "acc_top1_lo",
    "acc_top1_hi",
    "acc_top5",
    "acc_top5_lo",
    "acc_top5_hi",
    "n_correct_top1",
    "n_correct_top5",
    "ber",
    "bler",
    "bler_lo",
    "bler_hi",
    "bler_first",
    "psnr",
    "psnr_lo",
    "psnr_hi",
    "psnr_sent",
    "ms_ssim",
    "ms_ssim_sent",
    "bits_per_image",
    "bits_per_sent_image",
    "channel_uses",
    "ebn0_db",
    "sent_frac",
    "fingerprint",
    "model",
    "model_converged",
    "wall_s",
    "registry_name",
    "cell_hash",
    "config_hash",
    "provenance",
]
SUMMARY_KEY = b"kbsc_summary"
NAN = float("nan")


def cell_path(out_dir: Path, cell_hash: str) -> Path:
    return Path(out_dir) / "cells" / f"{cell_hash}.parquet"


def _finite_mean(x: np.ndarray | None) -> float:
    if x is None:
        return NAN
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else NAN


def t_interval(x: np.ndarray | None, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of the finite values of ``x`` (over images); NaN below 2 values."""
    if x is None:
        return NAN, NAN
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return NAN, NAN
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return float(x.mean()) - half, float(x.mean()) + half


def _mean_over(x: np.ndarray | None, mask: np.ndarray) -> float:
    """Finite mean of ``x`` over the images of ``mask``."""
    return NAN if x is None else _finite_mean(np.asarray(x, dtype=np.float64)[mask])


def ebn0_db(snr_db: float, channel_uses: np.ndarray, info_bits: np.ndarray, sent: np.ndarray) -> float:
    """Eb/N0 [dB] of the transport blocks actually sent: Es/N0 + 10·log10(Σ k_i / Σ info_bits_i) over the sent
    images i (energy per information bit, pooled over the TBs sent); NaN when nothing was sent. At one MCS
    every TB has the same size, so this is SNR + 10·log10(k / TBS)."""
    sent = np.asarray(sent, dtype=bool) & np.isfinite(info_bits) & np.isfinite(channel_uses)
    bits = float(np.sum(np.asarray(info_bits, dtype=np.float64)[sent]))
    if not sent.any() or bits <= 0:
        return NAN
    return float(snr_db) + 10.0 * math.log10(float(np.sum(np.asarray(channel_uses, np.float64)[sent])) / bits)


def _check_outcomes(out: Outcomes, task: Task) -> None:
    n = len(out.image_ids)
    where = f"system {task.label!r} in cell {task.cell_hash}"
    if out.labels.shape != (n,) or out.retrieved.ndim != 2 or out.retrieved.shape[0] != n:
        raise DataError(f"{where} returned outcomes of inconsistent shapes; fix the system's evaluate()")
    for name, arr in out.extras.items():
        if np.asarray(arr).shape != (n,):
            raise DataError(f"{where}: extra {name!r} has shape {np.asarray(arr).shape}, expected ({n},)")


def summarize(
    task: Task, out: Outcomes, source_dim: int | None, wall_s: float, config_hash: str, provenance: str
) -> dict[str, Any]:
    """The results row of one cell (metrics that do not apply are NaN)."""
    _check_outcomes(out, task)
    cell: Cell = task.cell
    n = int(len(out.image_ids))
    c1 = int(out.correct_top1.sum())
    c5 = int(out.correct_top5.sum()) if out.retrieved.shape[1] >= 5 else -1
    lo1, hi1 = wilson(c1, n)
    ex = out.extras
    sent = np.asarray(ex["sent"], dtype=bool) if "sent" in ex else None
    ber = bler = bler_lo = bler_hi = NAN
    if "bit_errors" in ex:
        denom_key = "info_bits" if "info_bits" in ex else ("bits" if "bits" in ex else None)
        if denom_key is not None:
            total = float(np.sum(ex[denom_key]))
            ber = float(np.sum(ex["bit_errors"])) / total if total > 0 else NAN
    if "tb_error" in ex:
        err = np.asarray(ex["tb_error"], dtype=np.float64)
        mask = np.isfinite(err) & (sent if sent is not None else True)
        m = int(np.sum(mask))
        if m:
            k = int(np.sum(err[mask] > 0.5))
            bler = k / m
            bler_lo, bler_hi = wilson(k, m)
    bler_first = NAN  # HARQ / OLLA links: the first transmissions' realized BLER (the loop's feedback)
    if "tb_error_first" in ex:
        err1 = np.asarray(ex["tb_error_first"], dtype=np.float64)
        bler_first = _finite_mean(err1)
    uses_per_image = (
        np.asarray(ex["channel_uses"], dtype=np.float64)
        if "channel_uses" in ex
        else np.full(n, float(cell.k(source_dim)) if source_dim else NAN)
    )
    uses = _finite_mean(uses_per_image)
    # a system without a ``sent`` flag transmits every image (analog and semantic systems always do)
    sent_mask = sent if sent is not None else np.ones(n, dtype=bool)
    ebn0 = NAN  # an extra column of coded links only
    if "info_bits" in ex:
        ebn0 = ebn0_db(cell.snr_db, uses_per_image, np.asarray(ex["info_bits"], np.float64), sent_mask)
    row: dict[str, Any] = {
        "system": task.label,
        **{k: v for k, v in dataclasses.asdict(cell).items() if k != "system"},
        "n_images": n,
        "acc_top1": c1 / n if n else NAN,
        "acc_top1_lo": lo1,
        "acc_top1_hi": hi1,
        "acc_top5": c5 / n if n and c5 >= 0 else NAN,
        "acc_top5_lo": wilson(c5, n)[0] if c5 >= 0 else NAN,
        "acc_top5_hi": wilson(c5, n)[1] if c5 >= 0 else NAN,
        "n_correct_top1": c1,
        "n_correct_top5": c5,
        "ber": ber,
        "bler": bler,
        "bler_lo": bler_lo,
        "bler_hi": bler_hi,
        "bler_first": bler_first,
        "psnr": _finite_mean(ex.get("psnr")),
        "psnr_lo": t_interval(ex.get("psnr"))[0],
        "psnr_hi": t_interval(ex.get("psnr"))[1],
        "psnr_sent": _mean_over(ex.get("psnr"), sent_mask),
        "ms_ssim": _finite_mean(ex.get("ms_ssim")),
        "ms_ssim_sent": _mean_over(ex.get("ms_ssim"), sent_mask),
        "bits_per_image": _finite_mean(ex.get("bits")),
        "bits_per_sent_image": _mean_over(ex.get("bits"), sent_mask),
        "channel_uses": uses,
        "ebn0_db": ebn0,
        "sent_frac": float(np.mean(sent_mask)) if n else NAN,
        "fingerprint": str(out.fingerprint or ""),
        "model": str(out.model["name"]) if out.model else "",
        "model_converged": float(bool(out.model["converged"])) if out.model else NAN,
        "wall_s": float(wall_s),
        "registry_name": cell.system,
        "cell_hash": task.cell_hash,
        "config_hash": config_hash,
        "provenance": provenance,
    }
    return {k: row[k] for k in RESULT_COLUMNS}


def _outcomes_table(out: Outcomes) -> pa.Table:
    retrieved = np.asarray(out.retrieved, dtype=np.int64)
    cols: dict[str, Any] = {
        "image_id": np.asarray(out.image_ids, dtype=np.int64),
        "label": np.asarray(out.labels, dtype=np.int64),
        "retrieved_top1": retrieved[:, 0],
        "correct_top1": np.asarray(out.correct_top1, dtype=bool),
        "correct_top5": np.asarray(out.correct_top5, dtype=bool),
        "retrieved": pa.array(list(retrieved), type=pa.list_(pa.int64())),
    }
    for name in sorted(out.extras):
        cols[f"x_{name}"] = np.asarray(out.extras[name], dtype=np.float64)
    return pa.table(cols)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _encode_row(row: dict[str, Any]) -> bytes:
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    return json.dumps(clean, sort_keys=True, default=_json_default).encode()


def write_cell(out_dir: Path, row: dict[str, Any], out: Outcomes) -> Path:
    """Write one cell's outcomes + summary atomically (temporary file, fsync, rename)."""
    table = _outcomes_table(out).replace_schema_metadata({SUMMARY_KEY: _encode_row(row)})
    path = cell_path(out_dir, row["cell_hash"])
    atomic_write(path, lambda p: pq.write_table(table, p))
    return path


def read_cell_summary(path: Path) -> dict[str, Any] | None:
    """The summary row of a finished cell, or None if the file is missing or unreadable."""
    try:
        meta = pq.read_schema(path).metadata or {}
        row = json.loads(meta[SUMMARY_KEY])
    except (FileNotFoundError, OSError, KeyError, ValueError, pa.ArrowException):
        return None
    return {k: (NAN if v is None and k not in ("mcs",) else v) for k, v in row.items()}


def read_cell_outcomes(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    df["mcs"] = df["mcs"].astype("Int64")
    for c in ("seed", "n_images", "n_correct_top1", "n_correct_top5"):
        df[c] = df[c].astype("int64")
    return df


_CELL_TYPES = {
    "system": pa.string(),
    "dataset": pa.string(),
    "extractor": pa.string(),
    "channel": pa.string(),
    "csi": pa.string(),
    "snr_db": pa.float64(),
    "cbr": pa.float64(),
    "mcs": pa.int64(),
    "seed": pa.int64(),
}


def _outcome_schema(paths: list[Path]) -> pa.Schema:
    """Cell columns, ``cell_hash``, then the union of all cells' per-image columns (extras may differ)."""
    fields = [pa.field(c, _CELL_TYPES[c]) for c in CELL_COLUMNS] + [pa.field("cell_hash", pa.string())]
    seen = {f.name for f in fields}
    for path in paths:
        for f in pq.read_schema(path):
            if f.name not in seen:
                seen.add(f.name)
                fields.append(pa.field(f.name, f.type))
    return pa.schema(fields)


def _write_outcomes(target: Path, paths: list[Path], rows: list[dict[str, Any]]) -> None:
    """Stream every cell's outcomes into one Parquet file (memory: one cell at a time)."""
    schema = _outcome_schema(paths)
    with pq.ParquetWriter(target, schema) as writer:
        for path, row in zip(paths, rows, strict=True):
            table = pq.read_table(path).replace_schema_metadata(None)
            n = table.num_rows
            cols = []
            for f in schema:
                if f.name in CELL_COLUMNS or f.name == "cell_hash":
                    cols.append(pa.array([row[f.name]] * n, type=f.type))
                elif f.name in table.column_names:
                    cols.append(table.column(f.name).cast(f.type))
                else:
                    cols.append(pa.nulls(n, type=f.type))
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))


def assemble(out_dir: Path, tasks: list[Task]) -> tuple[pd.DataFrame, Path]:
    """Read every cell of ``tasks`` (all finished) and write the three tables atomically, in grid order.

    Returns the results table and the path of ``outcomes.parquet`` (streamed, never held in memory whole).
    """
    out_dir = Path(out_dir)
    rows, paths = [], []
    for t in tasks:
        path = cell_path(out_dir, t.cell_hash)
        row = read_cell_summary(path)
        if row is None:
            raise DataError(f"cell {t.cell_hash} has no readable result at {path}; rerun to compute it")
        rows.append({**row, "mcs": None if row["mcs"] is None or pd.isna(row["mcs"]) else int(row["mcs"])})
        paths.append(path)
    results = _results_frame(rows)
    atomic_write(out_dir / "results.parquet", lambda p: results.to_parquet(p, index=False))
    atomic_write(out_dir / "results.csv", lambda p: results.to_csv(p, index=False, na_rep=""))
    atomic_write(out_dir / "outcomes.parquet", lambda p: _write_outcomes(p, paths, rows))
    return results, out_dir / "outcomes.parquet"


def load_results(out_dir: Path) -> pd.DataFrame:
    path = Path(out_dir) / "results.parquet"
    if not path.exists():
        raise DataError(f"{path} not found; run `kbsc run CONFIG --out {out_dir}` first")
    return pd.read_parquet(path)


def load_outcomes(out_dir: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The per-image outcomes (``columns``: only these, e.g. for pairing, which keeps memory small)."""
    path = Path(out_dir) / "outcomes.parquet"
    if not path.exists():
        raise DataError(f"{path} not found; run `kbsc run CONFIG --out {out_dir}` first")
    df = pd.read_parquet(path, columns=columns)
    if "mcs" in df:
        df["mcs"] = df["mcs"].astype("Int64")
    return df
