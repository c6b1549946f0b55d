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
