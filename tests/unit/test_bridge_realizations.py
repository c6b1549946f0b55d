"""Realization streams: identical channel and noise for every system, batch size/order/process independence,
fingerprints."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from kbsc.bridge import Bridge, GridConfig, combine_fingerprints
from kbsc.bridge.streams import unit_noise

GRID = GridConfig(num_subcarriers=24)


def _unit_qpsk(b, k, gen):
    bits = torch.randint(0, 2, (2, b, k), generator=gen).float()
    return torch.complex(1 - 2 * bits[0], 1 - 2 * bits[1]) / np.sqrt(2)


def _at_data_res(bridge, a, k):
    """``[B, S, T, F]`` → the first k data REs in the bridge's fixed order, ``[B, k]``."""
    flat = a.reshape(a.shape[0], a.shape[1], -1)[:, :, torch.from_numpy(bridge.rg.data_index)]
    return flat.reshape(a.shape[0], -1)[:, :k]


@pytest.mark.parametrize("channel", ["rayleigh", "tdl-c", "authors-rayleigh"])
def test_two_systems_see_identical_channel_and_noise(channel):
    """Two systems with different symbol streams, batchings and bridge instances: recover h and n from
    their outputs and compare bit for bit."""
    ids = np.array([7, 3, 11, 1 << 41, 5], dtype=np.int64)
    k = 2 * GRID.build().data_res_per_slot + 10  # three slots
    g = torch.Generator().manual_seed(0)
    sys_a = Bridge(channel, "perfect", seed=42, grid=GRID)
    sys_b = Bridge(channel, "perfect", seed=42, grid=GRID)
    h_a, n_a = sys_a.realize(ids, 3)
    # system B asks one image at a time, in reverse order
    for j in reversed(range(len(ids))):
        h_b, n_b = sys_b.realize(ids[j : j + 1], 3)
        assert torch.equal(h_b[0], h_a[j]) and torch.equal(n_b[0], n_a[j])
    # and through transmit: zero input reveals the noise; different inputs give y - h·x identical
    x1, x2 = _unit_qpsk(len(ids), k, g), _unit_qpsk(len(ids), k, g)
    o1 = sys_a.transmit(x1, ids, 3.0)
    o2 = sys_b.transmit(x2, torch.as_tensor(ids), torch.full((len(ids),), 3.0))
    assert o1.fingerprint == o2.fingerprint
    if channel.startswith("authors"):
        h_d, n_d = _at_data_res(sys_a, h_a, k), _at_data_res(sys_a, n_a, k)
        noise = 10 ** (-3.0 / 20) * n_d
        assert torch.allclose(o1.y - h_d * x1, noise, atol=1e-6)
        assert torch.allclose(o2.y - h_d * x2, noise, atol=1e-6)
    else:  # perfect CSI: y = x + n·√N0 / h on each RE, so y - x is the same for both systems
        assert torch.allclose(o1.y - x1, o2.y - x2, atol=1e-5)


def test_realizations_do_not_depend_on_batch_size_or_order():
    b = Bridge("tdl-a", "lmmse", seed=3, grid=GRID, cache_slots=0)
    ids = np.arange(100, 112)
    h, n = b.realize(ids, 2)
    perm = np.random.default_rng(0).permutation(len(ids))
    h_p, n_p = b.realize(ids[perm], 2)
    assert torch.equal(h_p, h[perm]) and torch.equal(n_p, n[perm])
    for size in (1, 5):
        parts = [b.realize(ids[s : s + size], 2) for s in range(0, len(ids), size)]
        assert torch.equal(torch.cat([p[0] for p in parts]), h)
        assert torch.equal(torch.cat([p[1] for p in parts]), n)
    # equalized outputs of one image do not depend on its batch companions either
    x = torch.ones(len(ids), 300, dtype=torch.complex64)
    y_all = b.transmit(x, ids, 10.0).y
    y_one = b.transmit(x[4:5], ids[4:5], 10.0).y
    assert torch.allclose(y_all[4:5], y_one, atol=1e-6)


def test_keys_are_independent_streams():
    b = Bridge("rayleigh", seed=1, grid=GRID)
    h, n = b.realize([0, 1], 2)
    assert not torch.equal(n[0, 0], n[1, 0]) and not torch.equal(n[0, 0], n[0, 1])
    assert h[0, 0, 0, 0] != h[0, 1, 0, 0] and h[0, 0, 0, 0] != h[1, 0, 0, 0]
    h2, n2 = Bridge("rayleigh", seed=2, grid=GRID).realize([0], 1)
    assert not torch.equal(n2[0, 0], n[0, 0])
    # the noise of a key is the same whatever the channel model asking
    h3, n3 = Bridge("tdl-b", seed=1, grid=GRID).realize([1], 2)
    assert torch.equal(n3[0], n[1])
    z = torch.from_numpy(unit_noise(1, 1, 1, GRID.build().shape))
    assert torch.equal(z, n[1, 1])


def test_unit_noise_statistics():
    n = Bridge("awgn", seed=0, grid=GRID).realize(np.arange(200), 1)[1]
    assert n.abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.02)
    assert abs(n.real.mean().item()) < 0.02 and abs((n.real * n.imag).mean().item()) < 0.02
    assert n.real.var().item() == pytest.approx(0.5, abs=0.02)


def test_fingerprint_order_and_batching_independent():
    b = Bridge("tdl-d", seed=9, grid=GRID)
    ids = np.arange(20)
    fp = b.fingerprint(ids, 100)
    assert fp == b.fingerprint(ids[::-1], 100) == Bridge("tdl-d", seed=9, grid=GRID).fingerprint(ids, 100)
    assert combine_fingerprints(b.fingerprint(ids[:7], 100), b.fingerprint(ids[7:], 100)) == fp
    assert b.transmit(torch.zeros(20, 100, dtype=torch.complex64), ids, 0.0).fingerprint == fp
    assert b.fingerprint(ids, 200) == fp  # same slots, same realizations
    assert b.fingerprint(ids, 1000) != fp  # more slots
    assert b.fingerprint(ids[:19], 100) != fp
    assert Bridge("tdl-d", seed=8, grid=GRID).fingerprint(ids, 100) != fp
    assert Bridge("tdl-e", seed=9, grid=GRID).fingerprint(ids, 100) != fp
    assert Bridge("awgn", seed=9, grid=GRID).fingerprint(ids, 100) != Bridge(
        "authors-awgn", seed=9, grid=GRID
    ).fingerprint(ids, 100)
    assert len(fp) == 16


def test_realizations_identical_in_another_process():
    code = (
        "import numpy as np;from kbsc.bridge import Bridge, GridConfig;"
        "b=Bridge('tdl-a', seed=5, grid=GridConfig(num_subcarriers=24));"
        "print(b.fingerprint(np.arange(30), 1000))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    here = Bridge("tdl-a", seed=5, grid=GRID).fingerprint(np.arange(30)[::-1], 1000)
    assert out.stdout.strip() == here
