"""The compiled TB encoder gives Sionna's ``TBEncoder`` output bit for bit, whatever the configuration.

Links are built as :class:`kbsc.nrlink.link.NRLink` builds them (:func:`mother_tb_encoder`, so the
repetition links of rates below 1/5 are in), over every MCS of table 1 and a few of table 2, at k values from
128 to 20,000 REs: CRC16 and CRC24A TBs, one and several code blocks (CB CRC24B, code words of two lengths),
both base graphs, filler bits, up to ~40 extension parity blocks. A coverage test keeps the list honest.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.nrlink.link import mother_tb_encoder
from kbsc.nrlink.mcs import plan_tb
from kbsc.nrlink.tb_encoder import FastTBEncoder

# (k, MCS, table): MCS 0..27 of table 1 at k values of test_link and two odd ones, then larger TBs
LINKS = [(k, mcs, 1) for mcs, k in zip(range(28), [128, 384, 768, 1536, 1000, 333] * 5, strict=False)] + [
    (4096, 27, 2),  # 4 CBs, BG1
    (1536, 20, 2),  # 256-QAM, one BG1 CB
    (768, 5, 2),
    (3001, 12, 2),  # 2 CBs with code words of two lengths
    (7777, 27, 1),  # 5 CBs, two lengths
    (9001, 9, 1),
    (12000, 2, 1),  # 2 BG2 CBs, repetition
    (20000, 0, 1),  # 2 BG2 CBs, repetition x1.7
]
ROWS = 3


@cache
def _link(k: int, mcs: int, table: int):
    n, enc = mother_tb_encoder(plan_tb(k, mcs, table))
    return n, enc, FastTBEncoder(enc)


def _same(enc, fast, rows: int, seed: int) -> None:
    bits = np.random.default_rng(seed).integers(0, 2, (rows, enc.k), dtype=np.uint8)
    with torch.no_grad():
        ref = enc(torch.as_tensor(bits, dtype=torch.float32))
    got = fast(bits)
    assert got.dtype == torch.float32 and got.shape == ref.shape == (rows, enc.n)
    assert torch.equal(got, ref), f"{int((got != ref).sum())} of {got.numel()} coded bits differ"


@pytest.mark.parametrize("k,mcs,table", LINKS)
def test_matches_sionna_on_link_configurations(k, mcs, table):
    _, enc, fast = _link(k, mcs, table)
    _same(enc, fast, ROWS, seed=k * 100 + mcs * 3 + table)


def test_configurations_cover_the_structural_cases():
    seen = set()
    for k, mcs, table in LINKS:
        n, enc, fast = _link(k, mcs, table)
        ldpc = enc.ldpc_encoder
        seen |= {f"crc{fast.tb_crc_len}", fast.bg, f"{fast.bg}-multi-cb" if enc.num_cbs > 1 else "one-cb"}
        if ldpc.k_ldpc > ldpc.k:
            seen.add("fillers")
        if len(np.unique(enc.cw_lengths)) > 1:
            seen.add("two-cw-lengths")
        if n < plan_tb(k, mcs, table).num_coded_bits:
            seen.add("repetition")
        if fast.n_ext == 0:
            seen.add("core-only")
        if fast.n_ext >= 30:
            seen.add("long-extension")
    want = {"crc16", "crc24", "bg1", "bg2", "one-cb", "bg1-multi-cb", "bg2-multi-cb", "fillers"}
    want |= {"two-cw-lengths", "repetition", "core-only", "long-extension"}
    assert want <= seen, want - seen


@pytest.mark.parametrize(
    "target,n,rate,qm,kw",
    [
        (1000, 2000, 0.5, 4, {}),  # TB quantised up: zero padding
        (20000, 30000, 0.66, 6, {}),  # quantised down (input truncated), 3 CBs
        (1000, 2000, 0.5, 4, {"use_scrambler": False}),
        (1000, 2000, 0.5, 4, {"channel_type": "PDSCH", "codeword_index": 1, "n_rnti": 77, "n_id": 500}),
    ],
)
def test_matches_sionna_beyond_link_defaults(target, n, rate, qm, kw):
    from sionna.phy.nr import TBEncoder

    enc = TBEncoder(target, n, rate, qm, device="cpu", **kw)
    _same(enc, FastTBEncoder(enc), ROWS, seed=target + n)


def test_input_forms():
    _, enc, fast = _link(384, 4, 1)
    bits = np.random.default_rng(0).integers(0, 2, (2, 3, enc.k), dtype=np.uint8)
    with torch.no_grad():
        ref = enc(torch.as_tensor(bits, dtype=torch.float32))
    assert torch.equal(fast(bits), ref)  # leading dimensions kept
    assert torch.equal(fast(torch.as_tensor(bits, dtype=torch.float32)), ref)  # what Sionna takes
    assert fast(np.zeros((0, enc.k), np.uint8)).shape == (0, enc.n)
    with pytest.raises(ValueError, match="binary"):
        fast(np.full((1, enc.k), 0.5, np.float32))
    with pytest.raises(ValueError, match="binary"):
        fast(np.full((1, enc.k), 2, np.uint8))
    with pytest.raises(ValueError, match=r"\[B, "):
        fast(np.zeros((1, enc.k + 1), np.uint8))


def test_refuses_what_it_cannot_mirror():
    from sionna.phy.nr import TBEncoder

    two = TBEncoder(1000, 2000, 0.5, 4, n_rnti=[1, 2], n_id=[1, 2], device="cpu")
    with pytest.raises(ConfigError, match="one stream"):
        FastTBEncoder(two)
    with pytest.raises(ConfigError, match="layout changed.*'k'"):  # a Sionna without what it reads
        FastTBEncoder(object())


@pytest.mark.parametrize("k,mcs", [(384, 0), (768, 10)])  # a repetition link and a plain one
def test_nrlink_encodes_with_it(k, mcs):
    from kbsc.nrlink.link import NRLink

    link = NRLink(k, mcs)
    assert isinstance(link.fast_encoder, FastTBEncoder)
    bits = np.random.default_rng(k + mcs).integers(0, 2, (5, link.payload_bits), dtype=np.uint8)
    assert torch.equal(link.encode(bits), link.encode(bits, reference=True))


# ---------------------------------------------------------------------------------------- redundancy versions
def _sionna_rv(enc, bits: np.ndarray, rv: int) -> torch.Tensor:
    """Sionna's TB chain (TBEncoder.call, step by step) with the LDPC encoder's ``rv=[rv]`` rate matching."""
    with torch.no_grad():
        u = torch.as_tensor(bits, dtype=torch.float32)
        if enc.k_padding > 0:
            u = torch.cat([u, torch.zeros(u.shape[0], enc.k_padding)], -1)
        u = enc.tb_crc_encoder(u)
        cb_crc = 0 if enc.cb_crc_encoder is None else 24
        u = u.reshape(-1, 1, enc.num_cbs, enc.ldpc_encoder.k - cb_crc)
        if enc.cb_crc_encoder is not None:
            u = enc.cb_crc_encoder(u)
        c = enc.ldpc_encoder(u, rv=[rv])  # [B, 1, num_cbs, 1, n]
        c = c.reshape(-1, 1, enc.num_cbs * enc.cw_lengths_max)
        perm = torch.argsort(enc.output_perm_inv)
        c = torch.index_select(c, -1, perm)[..., : enc.cw_lengths_sum]
        if enc.scrambler is not None:
            c = enc.scrambler(c)
        return c.reshape(len(bits), enc.n)


# one and several code blocks (two code-word lengths), both base graphs, fillers, CRC16/CRC24A, QPSK…64QAM
RV_LINKS = [(128, 4, 1), (384, 9, 1), (768, 17, 1), (1536, 27, 1), (3001, 12, 2), (7777, 27, 1), (9001, 9, 1)]


@pytest.mark.parametrize("k,mcs,table", RV_LINKS)
@pytest.mark.parametrize("rv", [0, 1, 2, 3])
def test_redundancy_versions_match_sionna(k, mcs, table, rv):
    _, enc, fast = _link(k, mcs, table)
    bits = np.random.default_rng(k + 7 * rv + mcs).integers(0, 2, (ROWS, enc.k), dtype=np.uint8)
    ref = _sionna_rv(enc, bits, rv)
    got = torch.from_numpy(fast.encode_rv(bits, rv))
    assert got.shape == ref.shape
    assert torch.equal(got, ref), f"rv {rv}: {int((got != ref).sum())} of {got.numel()} coded bits differ"
    if rv == 0:
        assert torch.equal(got, fast(bits))  # the rv-0 layout is the plain encoder's


def test_redundancy_version_cases_are_covered():
    seen = set()
    for k, mcs, table in RV_LINKS:
        _, enc, fast = _link(k, mcs, table)
        seen |= {fast.bg, "multi-cb" if enc.num_cbs > 1 else "one-cb", f"crc{fast.tb_crc_len}"}
        if len(np.unique(enc.cw_lengths)) > 1:
            seen.add("two-cw-lengths")
        if enc.ldpc_encoder.k_ldpc > enc.ldpc_encoder.k:
            seen.add("fillers")
        if any(s + enc.cw_lengths_max > fast.n_cb_comp for s in fast.rv_starts):
            seen.add("wrap-around")
    assert {
        "bg1",
        "bg2",
        "one-cb",
        "multi-cb",
        "crc16",
        "crc24",
        "two-cw-lengths",
        "fillers",
        "wrap-around",
    } <= seen, seen


def _reference_other_length(enc, bits: np.ndarray, rv: int, g: int, qm: int) -> np.ndarray:
    """A transmission of G != n bits from Sionna's pieces: per CB an ``LDPC5GEncoder(k, E_r, bg=…)`` of the
    same code with ``rv=[rv]``, its 38.212 interleaver (``generate_out_int``), concatenation, scrambling."""
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    ldpc = enc.ldpc_encoder
    c, q = enc.num_cbs, g // qm
    lens = [qm * (q // c)] * (c - q % c) + [qm * -(-q // c)] * (q % c)
    with torch.no_grad():
        u = torch.as_tensor(bits, dtype=torch.float32)
        u = enc.tb_crc_encoder(u)
        cb_crc = 0 if enc.cb_crc_encoder is None else 24
        u = u.reshape(-1, c, ldpc.k - cb_crc)
        if enc.cb_crc_encoder is not None:
            u = enc.cb_crc_encoder(u)
        parts = []
        for r, e in enumerate(lens):
            sub = LDPC5GEncoder(ldpc.k, e, bg=ldpc._bg, device="cpu")
            assert sub.z == ldpc.z
            cw = sub(u[:, r], rv=[rv])[:, 0]
            perm, _ = sub.generate_out_int(e, qm)
            parts.append(cw[:, torch.as_tensor(perm)])
        out = torch.cat(parts, -1)
        if enc.scrambler is not None:
            out = enc.scrambler(out.reshape(len(bits), 1, g)).reshape(len(bits), g)
            enc.scrambler(torch.zeros(1, 1, enc.n))  # restore the scrambler's length
    return out.numpy()


@pytest.mark.parametrize("k,mcs,frac", [(768, 17, 0.5), (1536, 9, 0.75), (7777, 12, 0.6)])
@pytest.mark.parametrize("rv", [0, 2, 3, 1])
def test_retransmissions_of_another_length(k, mcs, frac, rv):
    """HARQ retransmissions are shorter than the first transmission: same rules at G != n."""
    _, enc, fast = _link(k, mcs, 1)
    qm = fast.qm
    g = qm * max(1, int(frac * enc.n / qm))
    bits = np.random.default_rng(k + rv).integers(0, 2, (ROWS, enc.k), dtype=np.uint8)
    ref = _reference_other_length(enc, bits, rv, g, qm)
    got = fast.encode_rv(bits, rv, g)
    assert np.array_equal(got, ref), f"{int((got != ref).sum())} of {got.size} bits differ"


def test_layout_concatenates_transmissions():
    _, enc, fast = _link(768, 17, 1)
    qm = fast.qm
    tx = [(0, enc.n), (2, 4 * qm * 10), (3, 4 * qm * 10), (1, 4 * qm * 10)]
    bits = np.random.default_rng(3).integers(0, 2, (ROWS, enc.k), dtype=np.uint8)
    lay = fast.layout(tx)
    all_tx = fast.encode_layout(bits, lay)
    for t, (rv, g) in enumerate(tx):
        assert np.array_equal(all_tx[:, lay.offsets[t] : lay.offsets[t + 1]], fast.encode_rv(bits, rv, g))
    with pytest.raises(ConfigError):
        fast.layout([(4, enc.n)])
    with pytest.raises(ConfigError):
        fast.layout([(0, qm * 3 + 1)])
