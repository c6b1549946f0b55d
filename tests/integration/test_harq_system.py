"""hevc+ldpc-harq and the OLLA option of hevc+ldpc-amc end to end on the toy world; the HARQ link."""

import numpy as np
import pytest

from kbsc.baselines.amc import DEFAULT_AMC_MCS_SET
from kbsc.errors import ConfigError
from kbsc.jscc.toy import toy_context
from kbsc.nrlink.harq import HarqLink, HarqPolicy
from kbsc.nrlink.olla import olla_offsets
from kbsc.systems.base import Cell, get_system

EVEN = list(DEFAULT_AMC_MCS_SET)


def _cell(snr, system, channel="rayleigh", csi="perfect"):
    return Cell(
        system=system,
        dataset="toy",
        extractor="pp",
        channel=channel,
        csi=csi,
        snr_db=snr,
        cbr=0.25,
        seed=0,
        mcs=None,
    )


def test_policy_splits_the_budget():
    assert HarqPolicy(0.75, 4).sizes(768) == (576, 64, 64, 64)
    assert HarqPolicy(0.75, 4).sizes(10) == (8, 1, 1)  # larger parts first, never an empty transmission
    assert HarqPolicy(0.5, 2).sizes(101) == (50, 51) or HarqPolicy(0.5, 2).sizes(101) == (51, 50)
    assert sum(HarqPolicy(0.6, 3).sizes(333)) == 333
    with pytest.raises(ConfigError):
        HarqPolicy(0.0, 4)
    with pytest.raises(ConfigError):
        HarqPolicy(0.5, 0)


def test_harq_link_combines_and_counts_channel_uses():
    from kbsc.bridge.bridge import make_bridge

    bridge = make_bridge("rayleigh", "perfect", seed=0)
    link = HarqLink((576, 64, 64, 64), 10)
    bits = np.random.default_rng(0).integers(0, 2, (200, link.payload_bits), dtype=np.uint8)
    res = link.run(bits, bridge, np.arange(200), 6.0)
    wrong = (res.bits != bits).any(axis=1)
    assert not (res.crc_ok & wrong).any()  # an ACK carries the right bits
    assert (res.crc_ok >= res.first_ok).all()
    assert res.crc_ok.sum() > res.first_ok.sum()  # retransmissions help
    assert (res.transmissions[res.first_ok] == 1).all()
    np.testing.assert_array_equal(res.channel_uses, np.cumsum(link.sizes)[res.transmissions - 1])
    assert (res.channel_uses[~res.crc_ok] == 768).all()
    # the first transmission alone decides as a one-transmission link of the same TB on the same REs
    one = HarqLink((576,), 10)
    assert one.payload_bits == link.payload_bits
    np.testing.assert_array_equal(one.run(bits, bridge, np.arange(200), 6.0).crc_ok, res.first_ok)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return toy_context(n=40, data_dir=tmp_path_factory.mktemp("harq"))


def test_harq_system_outcomes(ctx):
    harq = get_system("hevc+ldpc-harq", mcs_set=EVEN)
    out = harq.evaluate(_cell(6.0, "hevc+ldpc-harq"), ctx)
    ex = out.extras
    sent = ex["sent"].astype(bool)
    assert sent.any()
    sizes = harq.transmission_sizes(768)
    assert set(ex["transmissions"][sent].tolist()) <= set(range(1, len(sizes) + 1))
    assert (ex["transmissions"][~sent] == 0).all() and (ex["channel_uses"][~sent] == 0).all()
    np.testing.assert_array_equal(ex["channel_uses"][sent], np.cumsum(sizes)[ex["transmissions"][sent] - 1])
    first, final = ex["tb_error_first"][sent], ex["tb_error"][sent]
    assert (final <= first).all()
    assert ((first == 0) == (ex["transmissions"][sent] == 1)).all()
    # OLLA in the documented order: each image's offset is the loop's state after the feedback before it
    fb = ~(ex["tb_error_first"][sent] > 0.5)
    want = np.concatenate([[0.0], olla_offsets(fb)])[:-1]
    np.testing.assert_allclose(ex["olla_offset_db"][sent], want)
    again = get_system("hevc+ldpc-harq", mcs_set=EVEN).evaluate(_cell(6.0, "hevc+ldpc-harq"), ctx)
    np.testing.assert_array_equal(again.retrieved, out.retrieved)  # deterministic


def test_amc_olla_option(ctx):
    out = get_system("hevc+ldpc-amc", olla=True).evaluate(_cell(6.0, "hevc+ldpc-amc"), ctx)
    ex = out.extras
    sent = ex["sent"].astype(bool)
    np.testing.assert_array_equal(ex["tb_error_first"][sent], ex["tb_error"][sent])  # one transmission
    assert (ex["channel_uses"] == 768).all()
    plain = get_system("hevc+ldpc-amc").evaluate(_cell(6.0, "hevc+ldpc-amc"), ctx)
    assert "olla_offset_db" not in plain.extras


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="first_fraction"):
        get_system("hevc+ldpc-harq", first_fraction=1.5, mcs_set=EVEN)
    with pytest.raises(ConfigError, match="max_transmissions"):
        get_system("hevc+ldpc-harq", max_transmissions=0, mcs_set=EVEN)
    with pytest.raises(ConfigError, match="olla_step_db"):
        get_system("hevc+ldpc-amc", olla=True, olla_step_db=0)
    with pytest.raises(ConfigError, match="decoder must be one of"):
        HarqLink((100, 20), 4, decoder="sionna")


def test_frame_vectorized_decoders_combine_on_their_per_codeword_schedule():
    """The AMC thresholds belong to the frame-vectorized default; HARQ combining decodes on the engine's
    per-codeword schedule that matches it (lanes-oms: the same decisions as layered-oms)."""
    assert HarqLink((100, 20), 4, decoder="lanes-cms").schedule == HarqLink((100, 20), 4).schedule
    oms = HarqLink((100, 20), 4, decoder="layered-oms").schedule
    assert HarqLink((100, 20), 4, decoder="lanes-oms").schedule == oms
