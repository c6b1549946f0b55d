"""Cell summaries: BER/BLER/PSNR/Eb/N0 from per-image extras, Wilson intervals, empty where not applicable."""

import math

import numpy as np
import pytest

from kbsc.experiments.grid import Task
from kbsc.experiments.results import summarize
from kbsc.experiments.stats import wilson
from kbsc.systems.base import Cell, Outcomes


def _task(**kw):
    cell = Cell("hevc+ldpc", "d", "e", "awgn", "perfect", 4.0, 0.25, 0, mcs=kw.pop("mcs", 5))
    return Task("hevc+ldpc", cell, "abc")


def test_summary_of_a_coded_link_cell():
    n = 8
    labels = np.arange(n)
    retrieved = np.tile(labels[:, None], (1, 5))
    retrieved[:3, 0] = -1  # three images lost: counted wrong at top-1, right at top-5
    retrieved[0, :] = -1  # ... one of them wrong at top-5 too
    extras = {
        "bits": np.full(n, 800.0),
        "info_bits": np.full(n, 1000.0),
        "bit_errors": np.array([10, 0, 0, 0, 0, 0, 0, 30], float),
        "tb_error": np.array([1, 1, 0, 0, 0, 0, 0, 0], float),
        "sent": np.array([1, 1, 1, 1, 1, 1, 0, 0], float),  # two images did not fit: not in the BLER
        "psnr": np.array([np.nan, np.nan, 30, 31, 32, 33, np.inf, 29]),
        "channel_uses": np.full(n, 768.0),
    }
    out = Outcomes(labels.astype(np.int64), labels.astype(np.int64), retrieved.astype(np.int64), "fp", extras)
    row = summarize(_task(), out, 3072, 1.5, "cfg", "prov")
    assert row["acc_top1"] == 5 / 8 and row["acc_top5"] == 7 / 8
    assert (row["acc_top1_lo"], row["acc_top1_hi"]) == pytest.approx(wilson(5, 8))
    assert row["ber"] == pytest.approx(40 / 8000)
    assert row["bler"] == pytest.approx(2 / 6) and (row["bler_lo"], row["bler_hi"]) == pytest.approx(
        wilson(2, 6)
    )
    assert row["psnr"] == pytest.approx(np.mean([30, 31, 32, 33, 29]))
    assert row["bits_per_image"] == 800 and row["channel_uses"] == 768 and row["sent_frac"] == 0.75
    assert row["ebn0_db"] == pytest.approx(4.0 + 10 * math.log10(768 / 1000))
    assert row["mcs"] == 5 and row["fingerprint"] == "fp" and row["wall_s"] == 1.5


def test_metrics_that_do_not_apply_are_empty():
    labels = np.arange(4, dtype=np.int64)
    out = Outcomes(labels, labels, np.tile(labels[:, None], (1, 5)), "fp")
    row = summarize(_task(mcs=None), out, 3072, 0.1, "cfg", "prov")
    for key in ("ber", "bler", "psnr", "ms_ssim", "bits_per_image", "ebn0_db", "sent_frac"):
        assert math.isnan(row[key]), key
    assert row["channel_uses"] == 768  # k = round(cbr · n) when the system does not report it
    assert row["mcs"] is None and row["acc_top1"] == 1.0
