"""Channel options and imported realizations in grids: canonical labels, options reaching the bridge of every
system (through the shared ``open_bridge``), fingerprints and results that change with them, plug-in channels
imported before validation, ``{import: PATH}`` grids refused when the file does not fit the cell."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from kbsc.bridge import CHANNELS, Bridge, GridConfig
from kbsc.bridge.channel_spec import channel_label, channel_slug, parse_channel
from kbsc.bridge.training_keys import open_bridge
from kbsc.errors import ConfigError, DataError
from kbsc.experiments.config import parse_config
from kbsc.experiments.runner import run_experiment
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, Outcomes, System

SMALL = {"num_subcarriers": 24}
K = 16  # complex symbols per image of the toy-bridge system


class ToyBridge(System):
    """Sends the first 2K feature values as K complex symbols through the cell's bridge (the shared
    ``open_bridge``), retrieves by nearest neighbour in the toy KB."""

    def evaluate(self, cell: Cell, ctx: EvalContext) -> Outcomes:
        bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
        f = ctx.features[:, : 2 * K].astype(np.float32)
        x = torch.complex(torch.from_numpy(f[:, 0::2]), torch.from_numpy(f[:, 1::2]))
        scale = x.abs().pow(2).mean().sqrt()
        out = bridge.transmit((x / scale).to(torch.complex64), ctx.image_ids, cell.snr_db)
        y = (out.y * scale).numpy()
        rx = np.stack([y.real, y.imag], axis=-1).reshape(len(y), -1)
        d = ((rx[:, None, :] - ctx.kb.features[None, :, : 2 * K]) ** 2).sum(-1)
        top = np.argsort(d, axis=1, kind="stable")[:, :5]
        return Outcomes(
            image_ids=ctx.image_ids.copy(),
            labels=ctx.labels.copy(),
            retrieved=ctx.kb.labels[top].astype(np.int64),
            fingerprint=out.fingerprint,
        )


if "toy-bridge" not in SYSTEMS:
    SYSTEMS.add("toy-bridge", ToyBridge)


def toy_config(**changes):
    data = {
        "plugins": ["test_experiments_toysys", "test_bridge_channel_options"],
        "dataset": {"name": "toy"},
        "extractor": {"name": "none"},
        "n_images": 40,
        "snr_db": [0],
        "cbr": ["1/3"],
        "grid": SMALL,
        "systems": [{"name": "toy-bridge"}],
    }
    data.update(changes)
    return parse_config(data, allow_code=True)  # a test plug-in module


def run(cfg, out) -> pd.DataFrame:
    summary = run_experiment(
        cfg, out, data_dir=out.parent / "data", show_progress=False, backend="serial", allow_code=True
    )
    return summary.results


# ------------------------------------------------------------------------------------------------ labels
def test_labels_are_canonical_and_round_trip():
    assert channel_label("awgn") == "awgn"
    lab = channel_label({"name": "tdl-a", "speed": 3.0, "delay_spread": 100e-9})
    assert lab == "tdl-a[delay_spread=1e-07,speed=3]"
    assert channel_label(lab) == lab and channel_label("tdl-a[speed=3, delay_spread=1e-7]") == lab
    assert parse_channel(lab).options == {"delay_spread": 1e-07, "speed": 3}
    assert channel_label("cdl-c", direction="uplink") == "cdl-c[direction=uplink]"
    assert channel_label({"import": "runs/x.npz"}) == "import:runs/x.npz"
    assert channel_slug("import:/a/b/x.npz") == "import-x.npz"
    assert "/" not in channel_slug(lab) and channel_slug("awgn") == "awgn"


@pytest.mark.parametrize(
    "entry, msg",
    [
        ("tdl-a[speed]", "must look like key=value"),
        ("tdl-a[speed=1,speed=2]", "given twice"),
        ({"speed": 3}, "needs 'name'"),
        ({"import": "x.npz", "speed": 3}, "alone"),
        ({"name": "tdl-a", "x": [1, 2]}, "must be a number"),
    ],
)
def test_bad_labels_are_one_line_errors(entry, msg):
    with pytest.raises(ConfigError, match=msg):
        channel_label(entry)


def test_yaml_channel_entries_become_labels_and_are_validated():
    cfg = toy_config(channels=["awgn", {"name": "tdl-a", "delay_spread": 300e-9, "speed": 30}])
    assert cfg.channels == ["awgn", "tdl-a[delay_spread=3e-07,speed=30]"]
    with pytest.raises(ConfigError, match="channel 'tdl-a': delay_spread must be a number"):
        toy_config(channels=["awgn", {"name": "tdl-a", "delay_spread": -1}])
    with pytest.raises(ConfigError, match="bad option"):
        toy_config(channels=[{"name": "tdl-a", "sped": 3}])
    with pytest.raises(ConfigError, match="unknown channel 'tdl-z'"):
        toy_config(systems=[{"name": "toy-bridge", "channels": ["tdl-z[speed=3]"]}])


def test_open_bridge_passes_the_options():
    b = open_bridge("tdl-c[carrier_frequency=2e9,delay_spread=3e-07,speed=30]", "perfect", 0, SMALL)
    assert b.model.delay_spread == 300e-9 and b.model.speed == 30.0 and b.model.carrier_frequency == 2e9
    plain = open_bridge("tdl-c", "perfect", 0, SMALL)
    ids = np.arange(5)
    assert b.fingerprint(ids, 50) != plain.fingerprint(ids, 50)
    # the label spelled with the default values is the same channel: same realizations
    same = open_bridge("tdl-c[speed=3]", "perfect", 0, SMALL)
    assert same.fingerprint(ids, 50) == plain.fingerprint(ids, 50)


# -------------------------------------------------------------------------------------------- grid runs
def test_options_change_the_results_and_the_fingerprints(tmp_path):
    slow, fast = "tdl-a[delay_spread=1e-08,speed=1]", "tdl-a[delay_spread=3e-06,speed=300]"
    cfg = toy_config(channels=[slow, fast], csi=["ls-linear"])
    rows = run(cfg, tmp_path / "run").set_index("channel")
    assert set(rows.index) == {slow, fast}  # the results' channel column carries the options
    assert rows.loc[slow, "fingerprint"] != rows.loc[fast, "fingerprint"]
    # 3 µs of delay spread over 24 subcarriers and 300 m/s defeat ls-linear; 10 ns at 1 m/s does not
    assert rows.loc[slow, "acc_top1"] > rows.loc[fast, "acc_top1"]


def test_plugin_channel_validates_and_runs(tmp_path, monkeypatch):
    mod = tmp_path / "plug" / "kbsc_test_plugin_channel.py"
    mod.parent.mkdir()
    mod.write_text(
        textwrap.dedent(
            '''
            import numpy as np
            from kbsc.bridge.channels import CHANNELS
            from kbsc.bridge.channels.flat import BlockRayleigh

            class Halved(BlockRayleigh):
                """Block Rayleigh with a fixed phase of pi (test plug-in)."""
                name = "test-plugin-flat"

                def slot_response(self, gen):
                    return -super().slot_response(gen)

            if "test-plugin-flat" not in CHANNELS:
                CHANNELS.add("test-plugin-flat", Halved)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(mod.parent))
    sys.modules.pop("kbsc_test_plugin_channel", None)
    with pytest.raises(ConfigError, match="unknown channel 'test-plugin-flat'"):
        toy_config(channels=["test-plugin-flat"])
    cfg = toy_config(
        plugins=["test_experiments_toysys", "test_bridge_channel_options", "kbsc_test_plugin_channel"],
        channels=["test-plugin-flat"],
    )
    df = run(cfg, tmp_path / "run")
    assert list(df["channel"]) == ["test-plugin-flat"]


# ----------------------------------------------------------------------------------------- imported files
@pytest.fixture
def exported(tmp_path):
    """The toy context's sender images exported from tdl-b (30 m/s) at seed 0 with k = K."""
    from test_experiments_toysys import build_toy_context

    from kbsc.experiments.context import ContextSpec

    ctx = build_toy_context(ContextSpec(dataset="toy", extractor="none", n_images=40, data_dir=str(tmp_path)))
    path = tmp_path / "tdlb.npz"
    Bridge("tdl-b", seed=0, grid=GridConfig(**SMALL), speed=30.0).export(path, ctx.image_ids, K)
    return path, ctx


def test_a_grid_runs_on_an_imported_file(exported, tmp_path):
    path, _ = exported
    d = run(toy_config(channels=["tdl-b[speed=30]"]), tmp_path / "direct")
    i = run(toy_config(channels=[{"import": str(path)}]), tmp_path / "imported")
    assert i["channel"].iloc[0] == f"import:{path}"
    assert i["fingerprint"].iloc[0] == d["fingerprint"].iloc[0]  # the very same realizations
    assert i["acc_top1"].iloc[0] == d["acc_top1"].iloc[0]


def test_an_imported_file_that_does_not_fit_is_refused(exported, tmp_path):
    path, ctx = exported
    with pytest.raises(ConfigError, match="shapes"):  # another grid: refused at validation
        toy_config(channels=[{"import": str(path)}], grid={"num_subcarriers": 36})
    with pytest.raises(ConfigError, match=r"seed 0; the grid also asks for seed\(s\) 1"):
        toy_config(channels=[{"import": str(path)}], seeds=[0, 1])
    with pytest.raises(DataError, match="the cell asks for seed 1"):
        open_bridge(f"import:{path}", "perfect", 1, SMALL)
    with pytest.raises(ConfigError, match="not found"):
        toy_config(channels=[{"import": str(tmp_path / "missing.npz")}])
    b = open_bridge(f"import:{path}", "perfect", 0, SMALL)
    x = torch.ones((2, K), dtype=torch.complex64)
    with pytest.raises(DataError, match=r"holds 1 slot\(s\) per image \(k=16\); k=300 symbols need 2"):
        b.transmit(torch.ones((2, 300), dtype=torch.complex64), ctx.image_ids[:2], 0.0)
    b.transmit(torch.ones((2, 20), dtype=torch.complex64), ctx.image_ids[:2], 0.0)  # same slots: fine
    with pytest.raises(DataError, match="holds no image id 5 slot 0"):
        b.transmit(x, [5, 6], 0.0)
    # another seed (training keys): drawn fresh from the file's channel and options
    t = open_bridge(f"import:{path}", "perfect", 1_000_000, SMALL)
    assert t.source is None and t.channel == "tdl-b" and t.model.speed == 30.0


def test_a_file_of_an_unknown_channel_imports_with_its_empirical_covariance(tmp_path):
    CHANNELS.add("test-vanishing", CHANNELS.get("rayleigh"))
    try:
        b = Bridge("test-vanishing", seed=0, grid=GridConfig(**SMALL))
        path = b.export(tmp_path / "v.npz", np.arange(30), K)
    finally:
        CHANNELS._items.pop("test-vanishing")
    imp = Bridge.from_export(path, csi="lmmse")
    assert imp.channel == "test-vanishing" and imp.fingerprint(np.arange(30), K) == b.fingerprint(
        np.arange(30), K
    )
    h, h_hat, _ = imp.channel_estimate(np.arange(4), K, 30.0)
    assert (h - h_hat).abs().max().item() < 0.1
    with pytest.raises(DataError, match="cannot train"):
        open_bridge(f"import:{path}", "perfect", 2_000_000, SMALL)
