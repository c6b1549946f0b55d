"""The bench's complexity table: one row per quick-preset system, with parameters, FLOPs and ms per side."""

import numpy as np
import pytest
import torch

from kbsc.experiments.config import load_config
from kbsc.systems.base import EvalContext
from kbsc.tools import complexity


def _context(n: int = 4) -> EvalContext:
    """Synthetic100-style sender images, an untrained stand-in extractor and a 300-entry random KB: the
    costs do not depend on trained weights (the image codec's cost does depend on the images)."""
    from kbsc.data.synthetic import _render_many
    from kbsc.features.standin import StandinConfig, StandinExtractor
    from kbsc.kb import KnowledgeBase

    cfg = load_config("quick")
    images = np.concatenate(_render_many(0, "test", 1, list(range(n))))
    scfg = StandinConfig()
    torch.manual_seed(0)
    ext = StandinExtractor(scfg.build(), scfg)
    kb_f = np.random.default_rng(0).standard_normal((300, 512)).astype(np.float32)
    kb_f /= np.linalg.norm(kb_f, axis=1, keepdims=True)
    kb = KnowledgeBase(kb_f, np.arange(300) % 100)
    return EvalContext(
        data_dir=".",
        images=images,
        labels=np.arange(n),
        image_ids=np.arange(n),
        features=np.zeros((n, 512), np.float32),
        extractor=ext,
        kb=kb,
        options={"grid": dict(cfg.grid), "training": cfg.training.model_dump(mode="json")},
    )


@pytest.fixture(scope="module")
def table():
    cfg = load_config("quick")
    return cfg, complexity.complexity_table(cfg, _context(), n=4, repeats=1, devices=[])


def test_every_quick_preset_system_gets_a_row_with_positive_figures(table):
    cfg, rows = table
    assert [r["system"] for r in rows] == list(dict.fromkeys(s.display for s in cfg.systems))
    for r in rows:
        assert "error" not in r, r
        assert r["params"] > 0, r["system"]
        for side in ("sender", "receiver"):
            s = r[side]
            assert s["ms_per_image_cpu"] > 0, (r["system"], side)
            assert all(p["ms_per_image_cpu"] >= 0 for p in s["parts"])
            # FLOPs positive wherever something was counted; a side counted not at all says what it missed
            if s["flops"] is None:
                assert s["flops_uncounted"], (r["system"], side)
            else:
                assert s["flops"] > 0, (r["system"], side)
        assert r["sender"]["flops"] is not None or r["system"].startswith("hevc")
        assert r["receiver"]["flops"] > 0  # every receiver retrieves from the KB (2·M·D FLOPs at least)


def test_counts_follow_the_models(table):
    """Parameters split between the halves of one model; the KB search is 2·M·D; the extractor is counted
    on the side that runs it; the external image codec is listed as uncounted."""
    from kbsc.semantic.codec import KBSCCodec

    _, rows = table
    by = {r["system"]: r for r in rows}
    parts = {
        (r["system"], side, p["part"]): p
        for r in rows
        for side in ("sender", "receiver")
        for p in r[side]["parts"]
    }
    codec = KBSCCodec(1536)
    enc = parts[("kbsc", "sender", "encoder")]
    dec = parts[("kbsc", "receiver", "decoder")]
    assert enc["params"] + dec["params"] == sum(p.numel() for p in codec.parameters())
    assert enc["flops"] == 2 * (512 * 384 + 384 * 2 * 1536)
    assert parts[("kbsc", "receiver", "kb-search")]["flops"] == 2 * 300 * 512
    assert ("kbsc", "sender", "extractor") in parts and ("swinjscc", "receiver", "extractor") in parts
    assert by["hevc+ldpc"]["sender"]["flops_uncounted"] == ["hevc-encode"]
    assert parts[("hevc+ldpc", "receiver", "ldpc-decode")]["flops"] == (
        complexity.LDPC_OPS_PER_EDGE * 20 * parts[("hevc+ldpc", "sender", "ldpc-encode")]["flops"]
    )
    text = complexity.format_table(rows)
    assert text.count("\n") == len(rows) + 1 and "ms (GPU)" not in text


def test_torch_parts_are_timed_on_another_device_on_a_copy():
    """The GPU column's code path, run on the meta device: torch parts get the device's figure (or the error
    that kept them off it) from a copy of the model, other parts stand in with their CPU time."""
    lin = torch.nn.Linear(8, 4)
    x = torch.rand(16, 8)
    torch_part = complexity._torch_part("encoder", lin, lambda m, a: m(a[0]), (x,), 16)
    other = complexity.Part("demap", lambda: np.sort(np.random.rand(1000)), 16)
    side = complexity._side([torch_part, other], repeats=1, devices=["meta"])
    assert side["parts"][0]["ms_per_image_meta"] >= 0 and "ms_per_image_meta" not in side["parts"][1]
    assert side["ms_per_image_meta"] == pytest.approx(
        side["parts"][0]["ms_per_image_meta"] + side["parts"][1]["ms_per_image_cpu"], abs=1e-3
    )
    assert lin.weight.device.type == "cpu"  # the CPU model was not moved
    assert torch_part.params == 8 * 4 + 4 and torch_part.flops == 2 * 8 * 4
    complexity._SHARED.clear()
