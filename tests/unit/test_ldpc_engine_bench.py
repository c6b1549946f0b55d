"""Shape and meaning of the decoder benchmark's JSON (tiny sizes; speed itself belongs to `kbsc bench`)."""

from __future__ import annotations

import json

import pytest

from kbsc.baselines.ldpc.bench import _summary, bench_decoders, wilson_interval

pytest.importorskip("sionna.phy.fec.ldpc")


def test_wilson_interval():
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04  # 3.7 % for 0/100
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-12


def test_bench_decoders_tiny_json():
    r = bench_decoders(codes=((100, 300),), num_codewords=48, snrs=[[0.5, 1.0, 4.0]], show_progress=False,
                       cold_compile=False)
    json.dumps(r)  # JSON-able
    for key in ("decoder_speedup_flooding", "decoder_speedup_layered", "decoder_speedup_default",
                "flooding_decision_agreement", "default_bler_ratio", "compile", "table"):
        assert key in r
    assert len(r["table"]) == 3
    hi = r["table"][-1]["decoders"]
    assert hi["sionna"]["block_errors"] == 0 and hi["layered-oms"]["block_errors"] == 0  # 4 dB: error-free
    assert r["decoder_speedup_default"] == hi["layered-oms"]["speedup"] > 0
    assert r["flooding_decision_agreement"] >= 47 / 48
    assert set(r["compile"]["first_call_s"]) == {"flooding", "layered", "layered-oms"}


def test_summary_ratio_and_speedups():
    def dec(err, n, bps, agree=1.0):
        lo, hi = wilson_interval(err, n)
        return {"block_errors": err, "bler": err / n, "bler_ci95": [lo, hi], "bits_per_s": bps,
                "speedup": bps / 1.0, "agreement_with_sionna": agree}

    table = [{"k": 8, "n": 16, "decoders": {"sionna": dec(50, 100, 1.0), "flooding": dec(50, 100, 20.0, 0.99),
                                            "layered": dec(30, 100, 40.0),
                                            "layered-oms": dec(40, 100, 100.0)}},
             {"k": 8, "n": 16, "decoders": {"sionna": dec(0, 100, 1.0), "flooding": dec(0, 100, 25.0),
                                            "layered": dec(0, 100, 45.0), "layered-oms": dec(0, 100, 120.0)}}]
    s = _summary(table)
    assert s["decoder_speedup_flooding"] == 25.0 and s["decoder_speedup_default"] == 120.0  # BLER < 1 % only
    assert s["flooding_decision_agreement"] == 0.99
    assert s["default_bler_ratio"] == pytest.approx(0.8) and s["default_bler_within_intervals"]
