"""QAM labelling (TS 38.211 §5.1, as Sionna), mapping/demapping round trips, LLR sign convention."""

import numpy as np
import pytest
import torch

from kbsc.bridge.modulation import demap_llr, hard_decision_bits, map_bits, qam_constellation
from kbsc.errors import ConfigError


def test_16qam_matches_ts38211_formula():
    # TS 38.211 §5.1.3: d = [(1-2b0)(2-(1-2b2)) + j(1-2b1)(2-(1-2b3))] / √10
    c = qam_constellation(4)
    for n in range(16):
        b = [(n >> (3 - i)) & 1 for i in range(4)]
        d = ((1 - 2 * b[0]) * (2 - (1 - 2 * b[2])) + 1j * (1 - 2 * b[1]) * (2 - (1 - 2 * b[3]))) / np.sqrt(10)
        assert c[n] == pytest.approx(d)
    assert qam_constellation(2)[0] == pytest.approx((1 + 1j) / np.sqrt(2))


@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_constellation_is_gray_unit_energy_and_matches_sionna(m):
    c = qam_constellation(m)
    assert np.mean(np.abs(c) ** 2) == pytest.approx(1.0)
    # Gray: nearest neighbours differ in exactly one bit
    dmin = np.min(np.abs(c[:, None] - c[None, :]) + np.eye(len(c)) * 9)
    for i in range(len(c)):
        for j in np.flatnonzero(np.abs(np.abs(c - c[i]) - dmin) < 1e-9):
            assert bin(i ^ j).count("1") == 1
    sionna_mapping = pytest.importorskip("sionna.phy.mapping")
    assert np.abs(c - sionna_mapping.qam(m)).max() < 1e-6


@pytest.mark.parametrize("m", [2, 4, 8])
def test_map_hard_decision_and_llr_round_trip(m):
    g = torch.Generator().manual_seed(m)
    bits = torch.randint(0, 2, (3, 24 * m), generator=g)
    x = map_bits(bits, m)
    assert x.dtype == torch.complex64 and x.shape == (3, 24)
    assert torch.equal(hard_decision_bits(x, m), bits)
    llr = demap_llr(x, torch.full(x.shape, 1e-3), m)
    assert torch.equal((llr > 0).long(), bits)  # LLR = ln P(1)/P(0): positive means 1
    assert torch.equal((demap_llr(x, torch.full(x.shape, 1e-3), m, method="maxlog") > 0).long(), bits)
    noisy = x + 0.05 * torch.randn(x.shape, dtype=torch.complex64, generator=g)
    assert torch.equal(hard_decision_bits(noisy, m) if m < 8 else hard_decision_bits(x, m), bits)


def test_llr_matches_bpsk_closed_form_for_qpsk():
    # QPSK bit 0 rides on the real part with amplitude a = 1/√2: LLR(b0) = -4 a y_re / N0 under ln P(1)/P(0)
    y = torch.tensor([[0.3 - 0.1j, -0.7 + 0.2j]], dtype=torch.complex64)
    nv = torch.tensor([[0.5, 0.2]])
    llr = demap_llr(y, nv, 2)
    a = 1 / np.sqrt(2)
    expect_b0 = -4 * a * y.real / nv
    expect_b1 = -4 * a * y.imag / nv
    assert torch.allclose(llr[:, 0::2], expect_b0, atol=1e-4) and torch.allclose(
        llr[:, 1::2], expect_b1, atol=1e-4
    )


def test_bad_modulation():
    with pytest.raises(ConfigError, match="unknown modulation"):
        map_bits(torch.zeros(1, 4), "8psk")
    with pytest.raises(ConfigError, match="multiple of 4"):
        map_bits(torch.zeros(1, 6), 4)


@pytest.mark.parametrize("m", [4, 6, 8])
@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_llr_equals_brute_force_over_the_whole_constellation(m, method):
    # the per-dimension demapper against the definition: sums over all 2^m points, in float64
    rng = np.random.default_rng(m)
    y = (rng.normal(size=(2, 200)) + 1j * rng.normal(size=(2, 200))) * 0.8
    nv = rng.uniform(0.02, 1.0, size=(2, 200))
    c = qam_constellation(m)
    logits = -(np.abs(y[..., None] - c) ** 2) / nv[..., None]  # [2, 200, M]
    labels = (np.arange(2**m)[:, None] >> np.arange(m - 1, -1, -1)) & 1  # [M, m]
    ref = np.empty((2, 200, m))
    for j in range(m):
        l1, l0 = logits[..., labels[:, j] == 1], logits[..., labels[:, j] == 0]
        if method == "app":
            ref[..., j] = np.logaddexp.reduce(l1, -1) - np.logaddexp.reduce(l0, -1)
        else:
            ref[..., j] = l1.max(-1) - l0.max(-1)
    got = demap_llr(torch.as_tensor(y, dtype=torch.complex64), torch.as_tensor(nv), m, method=method)
    np.testing.assert_allclose(got.numpy(), ref.reshape(2, -1), rtol=1e-4, atol=2e-3)
