"""Compiled 5G LDPC decoding engine (numba, quasi-cyclic) and Sionna's decoder behind one registry.

>>> dec = make_ldpc_decoder("layered", LDPC5GEncoder(k, n), num_iter=20)   # doctest: +SKIP
>>> bits = dec(llr)        # [..., n] Sionna logits -> [..., k] hard information bits
"""

from kbsc.nrlink.ldpc.decoder import SCHEDULES, FastLDPC5GDecoder
from kbsc.nrlink.ldpc.graph import QCGraph, build_graph, lifted_pcm_rows
from kbsc.nrlink.ldpc.registry import (
    DEFAULT_LDPC_DECODER,
    LDPC_DECODERS,
    ChunkedSionnaLDPC5GDecoder,
    install_in_tb_decoder,
    make_ldpc_decoder,
)

__all__ = [
    "DEFAULT_LDPC_DECODER",
    "LDPC_DECODERS",
    "SCHEDULES",
    "ChunkedSionnaLDPC5GDecoder",
    "FastLDPC5GDecoder",
    "QCGraph",
    "build_graph",
    "install_in_tb_decoder",
    "lifted_pcm_rows",
    "make_ldpc_decoder",
]
