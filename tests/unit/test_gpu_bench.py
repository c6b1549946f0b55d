"""The bench's GPU section: absent without a GPU, its "1 GPU + cores" arithmetic, and `kbsc estimate` using
it. The measurements themselves run only where torch sees a GPU."""

import io
from pathlib import Path

import pandas as pd
import pytest
import torch

from kbsc.experiments.config import parse_config
from kbsc.tools import bench, estimate, gpu_bench
from kbsc.tools.estimate import estimate_grid, format_estimate

CFG = {
    "n_images": 100,
    "snr_db": [0, 10],
    "cbr": ["1/8", "1/2"],
    "channels": ["awgn"],
    "systems": [{"name": "kbsc"}, {"name": "hevc+ldpc", "mcs": [4, 10]}],
}
PER_IMAGE = pd.DataFrame(
    {
        "system": ["kbsc", "kbsc", "hevc+ldpc", "hevc+ldpc"],
        "registry_name": ["kbsc", "kbsc", "hevc+ldpc", "hevc+ldpc"],
        "channel": ["awgn"] * 4,
        "cbr": [0.125, 0.5, 0.125, 0.5],
        "s_per_image": [0.01, 0.01, 0.1, 0.1],
    }
)


def _stub_sections(monkeypatch):
    for name in ("_grid_section", "_link_stages", "_complexity_section"):
        monkeypatch.setattr(bench, name, lambda *a, **k: None)
    monkeypatch.setattr(bench, "_bench_decoders", lambda quick: {})
    monkeypatch.setattr(bench, "_bridge_channels", lambda *a: None)
    monkeypatch.setattr(bench, "_quantizer_section", lambda *a: None)
    monkeypatch.setattr(bench, "_training_speed", lambda quick: {"wall": {}, "cpu": {}})


def test_the_section_is_absent_without_a_gpu(monkeypatch):
    _stub_sections(monkeypatch)
    monkeypatch.setattr(gpu_bench, "gpu_available", lambda: False)
    report = bench.run_bench(quick=True, stream=io.StringIO())
    assert "gpu" not in report and "gpu" not in report["errors"]
    # with one, the section is measured and printed (measurement stubbed here)
    monkeypatch.setattr(gpu_bench, "gpu_available", lambda: True)
    monkeypatch.setattr(gpu_bench, "gpu_section", lambda report, quick: {"device": {"name": "X"}})
    out = io.StringIO()
    assert bench.run_bench(quick=True, stream=out)["gpu"] == {"device": {"name": "X"}}
    assert "GPU: X" in out.getvalue()


def test_without_cuda_this_machine_reports_no_gpu():
    assert gpu_bench.gpu_available() == torch.cuda.is_available()


def test_one_gpu_and_cores_run_both_lanes_at_once():
    cfg = parse_config(CFG)
    est = estimate.gpu_grid_estimate(PER_IMAGE, cfg, cores=4, efficiency=0.5, speedup={"kbsc": 10.0})
    # kbsc: 2 SNR x 2 CBR cells x 100 images x 0.01 s / 10 on the GPU lane, one cell at a time
    assert est["gpu_lane"]["cell_seconds"] == pytest.approx(0.4)
    # hevc+ldpc: 2 MCS x 2 SNR x 2 CBR x 100 x 0.1 s on 4 cores at efficiency 0.5
    assert est["cpu_lane"]["cell_seconds"] == pytest.approx(80.0)
    assert est["wall_s"] == pytest.approx(80.0 / (4 * 0.5)) and est["bottleneck"] == "cpu"
    slow = estimate.gpu_grid_estimate(PER_IMAGE, cfg, 64, 1.0, {}, extra_gpu={("kbsc", 0.5): 2.0})
    # no speedup given: the CPU cost (4 cells x 100 x 0.01 s); the extra applies at the nearest listed CBR
    assert slow["bottleneck"] == "gpu" and slow["wall_s"] == pytest.approx(4.0 + 4 * 100 * 2.0)


def test_speedups_come_from_the_complexity_rows_with_a_gpu_figure():
    rows = [
        {
            "system": "kbsc",
            "sender": {"ms_per_image_cpu": 3.0, "ms_per_image_cuda": 0.5},
            "receiver": {"ms_per_image_cpu": 1.0, "ms_per_image_cuda": 0.5},
        },
        {"system": "hevc+ldpc", "sender": {"ms_per_image_cpu": 100.0}, "receiver": {"ms_per_image_cpu": 9.0}},
    ]
    assert estimate.gpu_speedups(rows) == {"kbsc": 4.0}


def test_estimate_uses_a_bench_with_a_gpu_section():
    cfg = parse_config(CFG)
    report = {
        "grid": {"per_image": PER_IMAGE.to_dict(orient="records"), "parallel_efficiency": 1.0},
        "machine": {"cpu_count": 16},
        "complexity": {
            "systems": [
                {
                    "system": "kbsc",
                    "sender": {"ms_per_image_cpu": 2.0, "ms_per_image_cuda": 0.2},
                    "receiver": {"ms_per_image_cpu": 2.0, "ms_per_image_cuda": 0.2},
                },
            ]
        },
    }
    assert "gpu" not in estimate_grid(cfg, report, 16)
    report["gpu"] = {"device": {"name": "Some GPU"}}
    est = estimate_grid(cfg, report, 16)
    assert est["gpu"]["gpu_lane"]["cell_seconds"] == pytest.approx(0.4)
    assert est["gpu"]["wall_s"] == pytest.approx(80.0 / 16)
    assert "on 1 GPU (Some GPU) + 16 cores" in format_estimate(cfg, est, report, Path("b.json"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_section_measures_on_the_gpu():
    section = gpu_bench.gpu_section({"grid": {}}, quick=True)
    assert section["device"]["type"] == "cuda"
    for name in ("standin", "clip-vit-b32"):
        assert section["extractor_images_per_s"][name]["fp16"] > 0
    assert all(r["sionna_gpu_mbit_s"] > 0 for r in section["ldpc"])
    assert set(section["train_steps_per_s"]) >= {"deepjscc", "swinjscc"}
