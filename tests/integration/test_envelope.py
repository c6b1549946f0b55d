"""The early-stopped best-MCS envelope gives the exhaustive envelope's table, cell by cell."""

import numpy as np
import pytest

from kbsc.jscc.toy import toy_context
from kbsc.systems.base import Cell, get_system

MCS_SET = [0, 4, 9, 14, 20, 27]
#: (channel, SNR dB, CBR): the cliff (-1 dB), mid-range fading, the top where many MCS deliver the same QP;
#: -3 dB fading, where concealed failures win images (their MS-SSIM is computed only for the winners)
CELLS = [
    ("awgn", -1.0, 1 / 4),
    ("awgn", 12.0, 1 / 8),
    ("rayleigh", 4.0, 1 / 4),
    ("rayleigh", 12.0, 1 / 4),
    ("rayleigh", -3.0, 1 / 4),
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return toy_context(n=24, data_dir=tmp_path_factory.mktemp("env"))


def _cell(channel, snr, cbr):
    return Cell(
        system="hevc+ldpc-best",
        dataset="toy",
        extractor="pp",
        channel=channel,
        csi="perfect",
        snr_db=snr,
        cbr=cbr,
        seed=0,
        mcs=None,
    )


def _same(a, b):
    np.testing.assert_array_equal(a.retrieved, b.retrieved)
    assert a.fingerprint == b.fingerprint
    assert set(a.extras) == set(b.extras)
    for name in a.extras:
        assert a.extras[name].dtype == b.extras[name].dtype, name
        np.testing.assert_array_equal(a.extras[name], b.extras[name], err_msg=name)


@pytest.mark.parametrize("mcs_set", [MCS_SET, [9, 27, 0, 20, 4, 14, 9]])
def test_early_stop_equals_exhaustive(ctx, mcs_set):
    fast = get_system("hevc+ldpc-best", mcs_set=mcs_set)
    full = get_system("hevc+ldpc-best", mcs_set=mcs_set, early_stop=False)
    saved = concealed = 0
    for channel, snr, cbr in CELLS:
        cell = _cell(channel, snr, cbr)
        out = fast.evaluate(cell, ctx)
        _same(out, full.evaluate(cell, ctx))
        concealed += int(np.sum((out.extras["sent"] == 1) & (out.extras["tb_error"] == 1)))
        counts = fast.last_counts
        assert full.last_counts["links"] == full.last_counts["exhaustive_links"]
        assert counts["links"] <= counts["exhaustive_links"]
        saved += counts["exhaustive_links"] - counts["links"]
    assert saved > 0  # early stopping did trigger
    assert concealed > 0  # deferred concealed outcomes (features, MS-SSIM) did win images
