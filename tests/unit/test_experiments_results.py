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
        "bits": np.array([800, 800, 800, 800, 800, 800, 0, 0], float),
        "info_bits": np.array([1000, 1000, 1000, 1000, 1000, 1000, 0, 0], float),
        "bit_errors": np.array([10, 0, 0, 0, 0, 0, 0, 30], float),
        "tb_error": np.array([1, 1, 0, 0, 0, 0, 0, 0], float),
        "sent": np.array([1, 1, 1, 1, 1, 1, 0, 0], float),  # two images did not fit: not in the BLER
        "psnr": np.array([np.nan, 12, 30, 31, 32, 33, 11, 10]),  # 10, 11: the fallback the receiver shows
        "channel_uses": np.full(n, 768.0),
    }
    out = Outcomes(labels.astype(np.int64), labels.astype(np.int64), retrieved.astype(np.int64), "fp", extras)
    row = summarize(_task(), out, 3072, 1.5, "cfg", "prov")
    assert row["acc_top1"] == 5 / 8 and row["acc_top5"] == 7 / 8
    assert (row["acc_top1_lo"], row["acc_top1_hi"]) == pytest.approx(wilson(5, 8))
    assert row["ber"] == pytest.approx(40 / 6000)
    assert row["bler"] == pytest.approx(2 / 6) and (row["bler_lo"], row["bler_hi"]) == pytest.approx(
        wilson(2, 6)
    )
    assert row["psnr"] == pytest.approx(np.mean([12, 30, 31, 32, 33, 11, 10]))  # all images (finite)
    vals = np.array([12, 30, 31, 32, 33, 11, 10], float)
    half = 2.4469 * vals.std(ddof=1) / math.sqrt(7)  # t quantile 0.975 with 6 degrees of freedom
    lo_hi = (vals.mean() - half, vals.mean() + half)
    assert (row["psnr_lo"], row["psnr_hi"]) == pytest.approx(lo_hi, rel=1e-4)
    assert row["psnr_sent"] == pytest.approx(np.mean([12, 30, 31, 32, 33]))  # sent images only
    assert row["bits_per_image"] == pytest.approx(600) and row["bits_per_sent_image"] == pytest.approx(800)
    assert row["channel_uses"] == 768 and row["sent_frac"] == 0.75
    # over the TBs actually sent: the two unsent images do not dilute the information bits
    assert row["ebn0_db"] == pytest.approx(4.0 + 10 * math.log10(768 / 1000))
    assert row["mcs"] == 5 and row["fingerprint"] == "fp" and row["wall_s"] == 1.5


def test_metrics_that_do_not_apply_are_empty():
    labels = np.arange(4, dtype=np.int64)
    out = Outcomes(labels, labels, np.tile(labels[:, None], (1, 5)), "fp")
    row = summarize(_task(mcs=None), out, 3072, 0.1, "cfg", "prov")
    empty = ("ber", "bler", "psnr", "psnr_sent", "ms_ssim", "bits_per_image", "bits_per_sent_image")
    empty += ("ebn0_db",)
    for key in empty:
        assert math.isnan(row[key]), key
    assert row["sent_frac"] == 1.0  # a system without a ``sent`` flag transmits every image
    assert row["channel_uses"] == 768  # k = round(cbr · n) when the system does not report it
    assert row["mcs"] is None and row["acc_top1"] == 1.0


def test_ebn0_counts_only_the_transport_blocks_sent():
    """Issue 13: MCS 10, CBR 1/24 (k = 128) at −4 dB sends 12 of 500 images; Eb/N0 is SNR + 10·log10(k/TBS)
    (−5.2 dB), not the 11.0 dB that averaging 0 information bits for the unsent images gave."""
    from kbsc.nrlink.mcs import plan_tb

    n, k = 500, 128
    tbs = plan_tb(k, 10).tb_size
    sent = np.zeros(n)
    sent[:12] = 1
    labels = np.arange(n, dtype=np.int64) % 100
    extras = {
        "sent": sent,
        "info_bits": sent * tbs,
        "bit_errors": np.zeros(n),
        "tb_error": np.where(sent > 0, 0.0, np.nan),
        "channel_uses": np.full(n, k),
    }
    cell = Cell("hevc+ldpc", "d", "e", "awgn", "perfect", -4.0, 1 / 24, 0, mcs=10)
    out = Outcomes(labels, labels, np.tile(labels[:, None], (1, 5)), "fp", extras)
    row = summarize(Task("hevc+ldpc", cell, "abc"), out, 3072, 0.1, "cfg", "prov")
    assert row["ebn0_db"] == pytest.approx(-4.0 + 10 * math.log10(k / tbs))
    assert row["ebn0_db"] == pytest.approx(-5.2, abs=0.05)
    none_sent = {**extras, "sent": np.zeros(n), "info_bits": np.zeros(n)}
    nothing = Outcomes(labels, labels, out.retrieved, "fp", none_sent)
    assert math.isnan(summarize(Task("hevc+ldpc", cell, "abc"), nothing, 3072, 0.1, "cfg", "prov")["ebn0_db"])
