"""Export → import reproduces outputs exactly; missing keys and altered files are refused."""

import json

import numpy as np
import pytest
import torch

from kbsc.bridge import Bridge, GridConfig
from kbsc.bridge.export import SCHEMA, read_export
from kbsc.errors import DataError

GRID = GridConfig(num_subcarriers=12, pilot_ofdm_symbols=(3, 10))


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
@pytest.mark.parametrize(
    "channel, csi", [("tdl-b", "lmmse"), ("rayleigh", "ls-linear"), ("authors-rayleigh", "perfect")]
)
def test_export_import_reproduces_outputs(tmp_path, suffix, channel, csi):
    ids = np.array([5, 900, 3, 1 << 42], dtype=np.int64)
    k = 200  # two slots of 120 data REs
    src = (
        Bridge(channel, csi, seed=17, grid=GRID, speed=30.0)
        if channel.startswith("tdl")
        else Bridge(channel, csi, seed=17, grid=GRID)
    )
    path = src.export(tmp_path / f"real{suffix}", ids, k)
    data = read_export(path)
    assert data["schema"] == SCHEMA and data["h"].shape == (4, 2, 14, 12)
    assert json.loads(data["config_json"])["channel"] == channel
    dst = Bridge.from_export(path)
    assert dst.config() == src.config()
    x = torch.randn(4, k, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    a = src.transmit(x, ids, 7.0)
    b = dst.transmit(x, ids, 7.0)
    assert torch.equal(a.y, b.y) and torch.equal(a.noise_var, b.noise_var) and a.fingerprint == b.fingerprint
    # subsets and other orders of exported keys work; fewer symbols use the same slots
    c = dst.transmit(x[[2, 0], :50], ids[[2, 0]], 7.0)
    assert torch.equal(c.y, src.transmit(x[[2, 0], :50], ids[[2, 0]], 7.0).y)
    # keys not in the file are refused
    with pytest.raises(DataError, match="holds no image id 6 slot 0"):
        dst.transmit(x[:1], [6], 7.0)
    with pytest.raises(DataError, match="holds 2 slot"):
        dst.transmit(torch.zeros(1, 300, dtype=torch.complex64), ids[:1], 7.0)


def test_import_with_other_csi_and_tamper_detection(tmp_path):
    ids = np.arange(3)
    src = Bridge("tdl-a", "perfect", seed=1, grid=GRID)
    path = src.export(tmp_path / "r.npz", ids, 100)
    other = Bridge.from_export(path, csi="lmmse")
    x = torch.ones(3, 100, dtype=torch.complex64)
    assert torch.equal(
        other.transmit(x, ids, 5.0).y, Bridge("tdl-a", "lmmse", seed=1, grid=GRID).transmit(x, ids, 5.0).y
    )
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["noise"] = arrays["noise"].copy()
    arrays["noise"][0, 0, 0, 0] += 1e-3
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match="do not match their fingerprint"):
        Bridge.from_export(tmp_path / "bad.npz")
    arrays["schema"] = np.asarray("something-else/9")
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(DataError, match="schema"):
        Bridge.from_export(tmp_path / "bad2.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        Bridge.from_export(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="not found"):
        Bridge.from_export(tmp_path / "missing.npz")
