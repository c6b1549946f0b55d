"""The frame-vectorized layered min-sum engine (lanes.py) against the per-codeword engine, identical LLRs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc import DEFAULT_LDPC_DECODER, LDPC_DECODERS, FastLDPC5GDecoder, make_ldpc_decoder
from kbsc.nrlink.ldpc.decoder import LaneLDPC5GDecoder
from kbsc.nrlink.ldpc.lanes import LANES, kernel_source
from kbsc.tools.ldpc_bench import BENCH_CODES, awgn_llrs

ldpc = pytest.importorskip("sionna.phy.fec.ldpc")

#: Eb/N0 (dB) per bench code where some codewords converge in a few iterations and others never do.
MIXED_POINT = {(240, 768): 0.6, (528, 1536): 0.6, (1024, 2048): 1.0, (3840, 7680): 1.0}


@pytest.mark.parametrize("code", BENCH_CODES)
@pytest.mark.parametrize("early_stop", [True, False])
def test_lanes_oms_makes_layered_oms_decisions(code, early_stop):
    """Same LLRs, same iterations: identical decisions, iteration counts and convergence flags on every bench
    code. More codewords than two workers' lanes, so finished lanes are refilled mid-batch."""
    enc = ldpc.LDPC5GEncoder(*code)
    num = 2 * LANES["f"] + 37
    _, llr = awgn_llrs(enc, MIXED_POINT[code], num, seed=sum(code))
    ref = FastLDPC5GDecoder(enc, schedule="layered-oms", num_iter=20, early_stop=early_stop)
    new = make_ldpc_decoder("lanes-oms", enc, num_iter=20, early_stop=early_stop)
    bits_ref, it_ref, conv_ref = ref.decode_numpy(llr.numpy())
    bits, it, conv = new.decode_numpy(llr.numpy())
    np.testing.assert_array_equal(bits, bits_ref)
    np.testing.assert_array_equal(it, it_ref)
    np.testing.assert_array_equal(conv, conv_ref)
    assert 0 < conv.sum() < num  # both outcomes occur
    if early_stop:
        assert len(set(it.tolist())) > 3  # lanes finish at different iterations: refilling was exercised


def test_lanes_codeword_output_and_small_batches():
    """Interleaved code, codeword output, batches smaller than one block of lanes and empty batches."""
    enc = ldpc.LDPC5GEncoder(600, 1252, num_bits_per_symbol=4)
    _, llr = awgn_llrs(enc, 1.25, 40, seed=5)
    ref = FastLDPC5GDecoder(enc, schedule="layered-oms", return_infobits=False)(llr)
    out = LaneLDPC5GDecoder(enc, return_infobits=False)(llr)
    assert torch.equal(out, ref)
    for b in (0, 1, 3):
        assert torch.equal(
            make_ldpc_decoder("lanes-oms", enc)(llr[:b]), make_ldpc_decoder("layered-oms", enc)(llr[:b])
        )


def test_quantized_decoder_close_to_float():
    """int8 messages / int16 posterior: error-free at high SNR, and at BLER ≈ 10 % within a few points of the
    float decoder on the same LLRs (its measured cost per bench code is in docs/ldpc-engine.md)."""
    enc = ldpc.LDPC5GEncoder(1024, 2048)
    bits, llr = awgn_llrs(enc, 4.0, 64, seed=3)
    assert torch.equal(make_ldpc_decoder("lanes-q8", enc)(llr), bits)
    bits, llr = awgn_llrs(enc, 1.1, 600, seed=4)
    e_q = int((make_ldpc_decoder("lanes-q8", enc)(llr) != bits).any(dim=1).sum())
    e_f = int((make_ldpc_decoder("lanes-oms", enc)(llr) != bits).any(dim=1).sum())
    assert e_f > 20
    assert e_q <= 1.5 * e_f + 10
    assert DEFAULT_LDPC_DECODER != "lanes-q8"


@pytest.mark.parametrize("code", [(240, 768), (3840, 7680)])
def test_fixed_point_cms_tracks_float_cms(code):
    """lanes-cms16 (int16, 1/32 LLR) against lanes-cms (float32) on identical LLRs: error-free where the
    float decoder is (a long BG1 code at high SNR: the posterior does not overflow), and at BLER ≈ 5-30 %
    within a few block errors of it; the two differ by rounding only, so they succeed and fail on the same
    codewords almost always."""
    enc = ldpc.LDPC5GEncoder(*code)
    bits, llr = awgn_llrs(enc, 6.0, 130, seed=2)
    assert torch.equal(make_ldpc_decoder("lanes-cms16", enc)(llr), bits)
    num = 700 if code[0] < 1000 else 300
    bits, llr = awgn_llrs(enc, 0.6 if code[0] < 1000 else 0.8, num, seed=3)
    out16 = make_ldpc_decoder("lanes-cms16", enc)(llr)
    out32 = make_ldpc_decoder("lanes-cms", enc)(llr)
    e16 = int((out16 != bits).any(dim=1).sum())
    e32 = int((out32 != bits).any(dim=1).sum())
    assert e32 >= 15
    assert abs(e16 - e32) <= 0.15 * e32 + 5
    ok16, ok32 = (out16 == bits).all(dim=1), (out32 == bits).all(dim=1)
    assert (ok16 == ok32).float().mean() > 0.95
    assert DEFAULT_LDPC_DECODER == "lanes-cms16"


@pytest.mark.parametrize("name", ["lanes-cms16", "lanes-q8", "lanes-cms"])
def test_lanes_converged_iff_zero_syndrome(name):
    """Each lane kernel's "converged" flag is exactly a zero syndrome of its returned (lifted) decisions, and
    a codeword that stopped early satisfies every check; more codewords than lanes, so lanes are refilled."""
    enc = ldpc.LDPC5GEncoder(1200, 1700)
    g = FastLDPC5GDecoder(enc).graph
    _, llr = awgn_llrs(enc, 1.6, 2 * LANES["i"] + 11, seed=13)
    lifted, iters, conv = make_ldpc_decoder(name, enc, num_iter=20).decode_numpy(llr.numpy(), lifted=True)
    h = enc.pcm.tocsr()[: g.m_pruned, : g.n_pruned]
    zero = np.asarray((h @ lifted[:, : g.n_pruned].T.astype(np.int64)) % 2).sum(axis=0) == 0
    np.testing.assert_array_equal(conv, zero)
    assert zero[iters < 20].all()
    assert 0 < conv.sum() < len(conv) and len(set(iters.tolist())) > 3


def test_lanes_registry_and_bad_options():
    assert {"lanes-oms", "lanes-cms", "lanes-cms16", "lanes-q8"} <= set(LDPC_DECODERS.names())
    enc = ldpc.LDPC5GEncoder(100, 300)
    with pytest.raises(ConfigError, match="alpha"):
        LaneLDPC5GDecoder(enc, alpha=1.5)
    with pytest.raises(ConfigError, match="quantized"):
        LaneLDPC5GDecoder(enc, quantized=True, alpha=0.8)
    with pytest.raises(ConfigError, match="fixed-point"):
        LaneLDPC5GDecoder(enc, fixed_point=True, boxplus=False)
    with pytest.raises(ConfigError, match="fixed-point"):
        LaneLDPC5GDecoder(enc, fixed_point=True, boxplus=True, alpha=0.5)
    assert "def _blk_f19(" in kernel_source() and "def decode_lanes_i(" in kernel_source()
    assert "def _blk_c19(" in kernel_source() and "def decode_lanes_c(" in kernel_source()
