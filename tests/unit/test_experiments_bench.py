"""`kbsc bench` pieces that are not timings: the grid extrapolation and the JSON shape."""

import io
import json

import pandas as pd
import pytest

from kbsc.experiments.config import parse_config
from kbsc.experiments.grid import context_spec, expand
from kbsc.tools import bench, estimate


def test_extrapolation_sums_per_image_costs_over_the_grid():
    cfg = parse_config(
        {
            "n_images": 100,
            "snr_db": [0, 5, 10],
            "cbr": ["1/24", "1/8", "1/2"],
            "channels": ["awgn", "tdl-a"],
            "systems": [{"name": "fast"}, {"name": "slow", "mcs": [1, 2]}, {"name": "other"}],
        }
    )
    per_image = pd.DataFrame(
        {
            "registry_name": ["fast", "fast", "slow"],
            "cbr": [1 / 24, 1 / 2, 1 / 8],
            "s_per_image": [0.001, 0.003, 0.01],
        }
    )
    est = estimate.extrapolate(per_image, cfg, workers=2)
    # fast: 2 channels x 3 SNR cells at each CBR; 1/8 is nearer (log scale) to 1/24 than to 1/2
    fast = 6 * 100 * (0.001 + 0.001 + 0.003)
    slow = 6 * 2 * 3 * 100 * 0.01  # every CBR maps to the one measured CBR
    assert est["cell_seconds"] == pytest.approx(fast + slow, abs=0.05)
    assert est["wall_s"] == pytest.approx((fast + slow) / 2, abs=0.05)
    assert est["cells"] == 6 * 3 + 6 * 3 * 2 + 6 * 3 and est["unmeasured_systems"] == ["other"]
    # a per-image extra (e.g. a slower extractor) at the nearest listed CBR, and a parallel efficiency
    extra = {("slow", 1 / 2): 0.02, ("fast", 1 / 24): 0.5}
    est2 = estimate.extrapolate(per_image, cfg, workers=2, efficiency=0.5, extra_s=extra)
    added = 6 * 2 * 3 * 100 * 0.02 + 6 * 3 * 100 * 0.5
    assert est2["extra_cell_seconds"] == pytest.approx(added, abs=0.05)
    assert est2["wall_s"] == pytest.approx((fast + slow + added) / (2 * 0.5), abs=0.05)


def test_extrapolation_prices_each_label_and_splits_the_time_by_label():
    cfg = parse_config(
        {
            "n_images": 10,
            "snr_db": [0, 10],
            "cbr": ["1/8", "1/2"],
            "systems": [
                {"name": "jscc"},
                {"name": "jscc", "label": "jscc+other"},
                {"name": "jscc", "label": "jscc+unmeasured"},
            ],
        }
    )
    per_image = pd.DataFrame(
        {
            "system": ["jscc", "jscc", "jscc+other", "jscc+other"],
            "registry_name": ["jscc"] * 4,
            "cbr": [1 / 8, 1 / 2, 1 / 8, 1 / 2],
            "s_per_image": [1.0, 1.0, 3.0, 3.0],
        }
    )
    est = estimate.extrapolate(per_image, cfg, workers=1)
    # 4 cells per label; a label that was not measured falls back to its registry name's mean cost (2.0)
    assert est["by_system"] == {"jscc+other": 120.0, "jscc+unmeasured": 80.0, "jscc": 40.0}
    assert est["cell_seconds"] == pytest.approx(240.0)


GRID3 = {"snr_db": [0, 10], "cbr": ["1/2"], "systems": [{"name": "kbsc"}]}


def test_each_cell_is_priced_on_its_channel_or_the_measured_channels_of_its_kind():
    cfg = parse_config(
        {
            "n_images": 10,
            "snr_db": [0],
            "cbr": ["1/2"],
            "channels": ["awgn", "rayleigh", "tdl-a", "authors-awgn"],
            "systems": [{"name": "link"}],
        }
    )
    per_image = pd.DataFrame(
        {
            "registry_name": ["link", "link"],
            "channel": ["awgn", "rayleigh"],
            "cbr": [0.5, 0.5],
            "s_per_image": [1.0, 3.0],
        }
    )
    est = estimate.extrapolate(per_image, cfg, workers=1)
    # awgn 1, rayleigh 3, tdl-a (fading, not measured) 3, authors-awgn (AWGN-like) 1
    assert est["cell_seconds"] == pytest.approx(10 * (1 + 3 + 3 + 1))
    three = parse_config({**GRID3, "channels": ["awgn", "rayleigh", "tdl-a"]})
    assert bench._slice_config(three, quick=False).channels == ["awgn", "rayleigh"]


def test_slice_keeps_one_entry_per_label():
    cfg = parse_config(
        {
            "snr_db": [0, 10],
            "cbr": ["1/8", "1/2"],
            "systems": [
                {"name": "kbsc"},
                {"name": "kbsc", "channels": ["authors-awgn"]},
                {"name": "deepjscc-adaptive"},
                {"name": "deepjscc-adaptive", "label": "deepjscc-adaptive+softcast"},
            ],
        }
    )
    sliced = bench._slice_config(cfg, quick=False)
    labels = [s.label or s.name for s in sliced.systems]
    assert labels == ["kbsc", "deepjscc-adaptive", "deepjscc-adaptive+softcast"]
    # the feature section builds one system per label (it once keyed them by registry name and lost one)
    entries = bench._entries_by_label(sliced, expand(sliced, context_spec(sliced, ".")))
    assert {k: v.name for k, v in entries.items()} == {
        "kbsc": "kbsc",
        "deepjscc-adaptive": "deepjscc-adaptive",
        "deepjscc-adaptive+softcast": "deepjscc-adaptive",
    }


def test_counting_extractor_counts_only_what_reaches_the_extractor(tmp_path):
    from kbsc.experiments.grid import Task
    from kbsc.jscc.toy import toy_context
    from kbsc.systems.base import Cell, get_system
    from kbsc.tools.feature_cost import extractions_per_image

    ctx = toy_context(n=8, data_dir=tmp_path)
    cell = Cell("hevc+ldpc", "toy", "pp", "awgn", "perfect", 10.0, 0.25, 0, 4)
    task = Task(label="hevc+ldpc", cell=cell, cell_hash="x")
    systems = {"hevc+ldpc": get_system("hevc+ldpc")}
    first = extractions_per_image([task], ctx, systems)
    again = extractions_per_image([task], ctx, systems)
    assert first[("hevc+ldpc", 0.25)] == 1.0  # all delivered at 10 dB: one decoded image each
    assert again[("hevc+ldpc", 0.25)] == 0.0  # the same (image, QP) again: served by the decoded-image cache


def test_bench_json_has_the_stable_keys_even_when_sections_fail(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("not available here")

    monkeypatch.setattr(bench, "_bench_decoders", boom)
    monkeypatch.setattr(bench, "_grid_section", boom)
    monkeypatch.setattr(bench, "_link_stages", boom)
    monkeypatch.setattr(bench, "_bridge_channels", boom)
    monkeypatch.setattr(bench, "_quantizer_section", boom)
    monkeypatch.setattr(bench, "_training_speed", boom)
    out = tmp_path / "bench.json"
    bench.run_bench(json_path=out, quick=True, stream=io.StringIO())
    data = json.loads(out.read_text())
    assert set(bench.TOP_LEVEL_KEYS) <= set(data)
    assert data["errors"]["decoders"] == "RuntimeError: not available here"
    assert data["peak_rss_mb"]["self"] > 10


def test_the_bench_slice_gets_an_empty_envelope_memo(tmp_path, monkeypatch):
    from kbsc.baselines.envelope_store import ENVELOPE_DIR_ENV, EnvelopeStore

    monkeypatch.delenv(ENVELOPE_DIR_ENV, raising=False)
    assert EnvelopeStore(tmp_path / "data").dir == tmp_path / "data" / "envelopes"
    with bench.fresh_envelope_memo(tmp_path / "fresh"):
        assert EnvelopeStore(tmp_path / "data").dir == tmp_path / "fresh"
        assert EnvelopeStore(None).dir is None  # a runner without a cache keeps the memo off
    assert EnvelopeStore(tmp_path / "data").dir == tmp_path / "data" / "envelopes"
    monkeypatch.setenv(ENVELOPE_DIR_ENV, str(tmp_path / "user"))
    with bench.fresh_envelope_memo(tmp_path / "fresh"):
        pass
    assert EnvelopeStore(tmp_path / "data").dir == tmp_path / "user"  # a user's own setting is restored
