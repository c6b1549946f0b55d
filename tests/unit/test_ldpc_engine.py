"""The compiled 5G LDPC engine against Sionna's LDPC5GDecoder (the oracle) on identical LLRs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.nrlink.ldpc import (
    LDPC_DECODERS,
    FastLDPC5GDecoder,
    build_graph,
    install_in_tb_decoder,
    make_ldpc_decoder,
)
from kbsc.tools.ldpc_bench import awgn_llrs, wilson_interval

ldpc = pytest.importorskip("sionna.phy.fec.ldpc")

# (k, n, num_bits_per_symbol, Eb/N0 points in dB spanning BLER ~50 % ... ~1 %, codewords per point).
# Both base graphs, lifting sizes 18, 72, 24, 56, 120; no n is a multiple of its Z; one code has the output
# interleaver of 16-QAM.
CODES = [
    (100, 300, None, (0.5, 1.0, 2.0), 100),  # BG2, Z=18
    (600, 1252, 4, (1.0, 1.25, 1.5), 100),  # BG2, Z=72, interleaved
    (500, 650, None, (2.5, 3.0, 3.5), 100),  # BG1, Z=24
    (1200, 1700, None, (2.0, 2.25, 2.5), 100),  # BG1, Z=56
    (2560, 3600, None, (2.25, 2.5), 40),  # BG1, Z=120 (the longest)
]


def _encoder(k: int, n: int, nbps: int | None):
    return ldpc.LDPC5GEncoder(k, n, num_bits_per_symbol=nbps)


@pytest.fixture(scope="module")
def oracle():
    """Per code and point: (encoder, bits, llr, Sionna's hard information bits)."""
    torch.set_num_threads(1)
    out = []
    for ci, (k, n, nbps, snrs, num) in enumerate(CODES):
        enc = _encoder(k, n, nbps)
        sionna = ldpc.LDPC5GDecoder(enc, hard_out=True, return_infobits=True, num_iter=20)
        for pi, ebno in enumerate(snrs):
            bits, llr = awgn_llrs(enc, ebno, num, seed=100 * ci + pi)
            out.append((enc, bits, llr, sionna(llr)))
    return out


def test_graph_matches_sionna_pcm():
    """The extracted quasi-cyclic graph is Sionna's pruned parity-check matrix, entry for entry."""
    for k, n, nbps, _, _ in CODES:
        enc = _encoder(k, n, nbps)
        g = build_graph(enc)
        assert g.bg == ("bg2" if k in (100, 600) else "bg1")
        mine = np.zeros((g.num_row_blocks * g.z, g.num_vars), dtype=np.int64)
        t = np.arange(g.z)
        for r in range(g.num_row_blocks):
            for e in range(g.row_ptr[r], g.row_ptr[r + 1]):
                mine[r * g.z + t, g.edge_col[e] * g.z + (t + g.edge_shift[e]) % g.z] += 1
        ref = enc.pcm.toarray()[: g.m_pruned, : g.n_pruned]
        np.testing.assert_array_equal(mine[: g.m_pruned, : g.n_pruned], ref)
        assert mine[: g.m_pruned, g.n_pruned :].sum() == 0  # pruned tail columns touch only pruned rows


def test_flooding_makes_sionnas_decisions(oracle):
    """Identical codeword decisions but for float rounding in chaotic, failed decodings.

    These points sit at BLER 1 ... 60 %, where ~0.1 % of codewords differ (measured: 1 in 600 ... 1 in 1,024,
    always a codeword both decoders get wrong, by 1-2 bits); over the bench's range the figure is >= 99.9 %.
    """
    differ = total = ref_errors = 0
    for enc, bits, llr, ref in oracle:
        out = make_ldpc_decoder("flooding", enc, num_iter=20)(llr)
        assert out.shape == ref.shape and out.dtype == torch.float32
        bad = ~(out == ref).all(dim=1)
        differ += int(bad.sum())
        total += ref.shape[0]
        ref_errors += int((ref != bits).any(dim=1).sum())
        assert not (ref[bad] == bits[bad]).all(dim=1).any()  # never where Sionna decodes correctly
        assert not (out[bad] == bits[bad]).all(dim=1).any()  # nor where the engine does
    assert ref_errors > 100  # the comparison includes plenty of failed codewords
    assert differ <= total // 500, f"{differ} of {total} codewords differ from Sionna"


@pytest.mark.parametrize("schedule", ["layered", "layered-oms", "lanes-cms", "lanes-cms16"])
def test_layered_bler_not_worse_than_sionna(oracle, schedule):
    """At every point, the schedule's BLER interval does not lie above Sionna's (95 % Wilson)."""
    tot_mine = tot_ref = 0
    for enc, bits, llr, ref in oracle:
        out = make_ldpc_decoder(schedule, enc, num_iter=20)(llr)
        e_mine = int((out != bits).any(dim=1).sum())
        e_ref = int((ref != bits).any(dim=1).sum())
        num = bits.shape[0]
        assert wilson_interval(e_mine, num)[0] <= wilson_interval(e_ref, num)[1], (enc.k, e_mine, e_ref)
        tot_mine += e_mine
        tot_ref += e_ref
    assert wilson_interval(tot_mine, 1240)[0] <= wilson_interval(tot_ref, 1240)[1]


@pytest.mark.parametrize("schedule", ["layered", "layered-oms", "flooding"])
def test_no_divergence_after_convergence(schedule):
    """50 iterations without early termination at high SNR: every codeword decoded and still a codeword."""
    for k, n, ebno in [(600, 1250, 3.0), (1200, 1700, 4.0)]:
        enc = _encoder(k, n, None)
        bits, llr = awgn_llrs(enc, ebno, 48, seed=7)
        dec = FastLDPC5GDecoder(enc, schedule=schedule, num_iter=50, early_stop=False)
        out = dec(llr)
        assert torch.equal(out, bits)
        assert dec.last_converged.all() and (dec.last_iters == 50).all()


@pytest.mark.parametrize("schedule", ["flooding", "layered", "layered-oms"])
def test_early_stop_only_on_zero_syndrome(schedule):
    """'converged' <=> the decisions satisfy Sionna's (pruned) parity checks; stopping early implies it."""
    for k, n, ebno in [(100, 300, 0.5), (1200, 1700, 2.0)]:
        enc = _encoder(k, n, None)
        g = build_graph(enc)
        _, llr = awgn_llrs(enc, ebno, 96, seed=11)
        dec = FastLDPC5GDecoder(enc, schedule=schedule, num_iter=20, early_stop=True)
        lifted, iters, conv = dec.decode_numpy(llr.numpy(), lifted=True)
        h = enc.pcm.tocsr()[: g.m_pruned, : g.n_pruned]
        syndrome_zero = np.asarray((h @ lifted[:, : g.n_pruned].T.astype(np.int64)) % 2).sum(axis=0) == 0
        np.testing.assert_array_equal(conv, syndrome_zero)
        assert syndrome_zero[iters < 20].all()
        assert 0 < conv.sum() < len(conv)  # both outcomes occur at this SNR


def test_codeword_output_and_interleaver_match_sionna():
    """return_infobits=False gives Sionna's rate-matched (output-interleaved) codeword decisions."""
    enc = _encoder(600, 1252, 4)
    bits, llr = awgn_llrs(enc, 1.25, 40, seed=5)
    ref = ldpc.LDPC5GDecoder(enc, hard_out=True, return_infobits=False, num_iter=20)(llr)
    out = FastLDPC5GDecoder(enc, schedule="flooding", return_infobits=False)(llr)
    assert out.shape == (40, 1252)
    assert int((out != ref).any(dim=1).sum()) <= 1
    sent = enc(bits)
    ok = (out == sent).all(dim=1)
    assert ok.float().mean() > 0.5 and torch.equal(ok, (ref == sent).all(dim=1))


def test_code_rate_sweep_both_base_graphs():
    """Every code rate 0.1 ... 0.9 Sionna accepts, both base graphs: AWGN LLRs at Eb/N0 = 10 dB decode exactly
    (the puncturing, filler and pruning maps are right for every lifting size and rate-matched length)."""
    seen = set()
    for k in (40, 300, 1000, 3000, 6000):
        for rate in np.arange(0.1, 0.91, 0.1):
            n = int(round(k / rate))
            try:
                enc = _encoder(k, n, None)
            except ValueError:
                continue  # outside 5G NR (e.g. rate < 1/5, or k too large for BG2)
            seen.add(build_graph(enc).bg)
            bits, llr = awgn_llrs(enc, 10.0, 4, seed=k + n)
            for schedule in ("flooding", "layered", "layered-oms", "lanes-cms", "lanes-cms16", "lanes-q8"):
                dec = make_ldpc_decoder(schedule, enc, num_iter=20)
                assert torch.equal(dec(llr), bits), (k, n, schedule)
                assert dec.last_num_iter < 20
    assert seen == {"bg1", "bg2"}


def test_mcs_table_in_transport_block_decoder():
    """Every MCS of table 1 at two RE budgets: the engine inside Sionna's TBDecoder recovers the TB."""
    from sionna.phy.nr import TBDecoder, TBEncoder
    from sionna.phy.nr.utils import calculate_tb_size, decode_mcs_index

    gen = torch.Generator().manual_seed(9)
    skipped: list[int] = []
    for num_coded_bits in (1200, 4800):
        for mcs in range(28):
            m, r = decode_mcs_index(mcs, table_index=1)
            m, r = int(m), float(r)
            nbits = num_coded_bits // m * m
            tb_size = int(
                calculate_tb_size(
                    modulation_order=m, target_coderate=r, num_coded_bits=nbits, return_cw_length=False
                )[0]
            )
            try:
                tbe = TBEncoder(tb_size, nbits, r, m)
            except ValueError:  # Sionna's LDPC has no repetition: code rate < 1/5 is unsupported (MCS 0..2)
                skipped.append(mcs)
                continue
            tbd = TBDecoder(tbe, num_bp_iter=20)
            dec = install_in_tb_decoder(tbd, "layered-oms", num_iter=20)
            assert isinstance(dec, FastLDPC5GDecoder) and tbd._decoder is dec
            bits = torch.randint(0, 2, (3, tb_size), generator=gen).float()
            c = tbe(bits)
            llr = (2 * c - 1) * 24.0 + math.sqrt(48.0) * torch.randn(c.shape, generator=gen)  # AWGN LLRs
            out, crc = tbd(llr)
            assert torch.equal(out, bits) and bool(crc.all()), (num_coded_bits, mcs)
    assert set(skipped) <= {0, 1, 2}, skipped


def test_sionna_wrapper_chunks_and_registry():
    enc = _encoder(100, 300, None)
    bits, llr = awgn_llrs(enc, 1.0, 30, seed=2)
    whole = ldpc.LDPC5GDecoder(enc, hard_out=True, num_iter=20)(llr)
    chunked = make_ldpc_decoder("sionna", enc, num_iter=20, max_llrs=7 * enc.n_ldpc)
    assert chunked.chunk == 7
    assert torch.equal(chunked(llr.reshape(3, 10, 300)), whole.reshape(3, 10, 100))
    assert set(LDPC_DECODERS.names()) == {
        "sionna",
        "flooding",
        "layered",
        "layered-oms",
        "lanes-oms",
        "lanes-cms",
        "lanes-cms16",
        "lanes-q8",
    }
    with pytest.raises(ConfigError, match="unknown LDPC decoder 'bp'"):
        make_ldpc_decoder("bp", enc)
    with pytest.raises(ConfigError, match="expected n=300"):
        make_ldpc_decoder("layered", enc)(llr[:, :200])
    with pytest.raises(ConfigError, match="num_iter"):
        make_ldpc_decoder("layered", enc, num_iter=0)
    dec = make_ldpc_decoder("layered-oms", enc)
    assert dec(llr[:0]).shape == (0, 100)
