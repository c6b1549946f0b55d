"""Resource grid: default layout, RE order, overhead, slots per image, bad settings."""

import numpy as np
import pytest

from kbsc.bridge import Bridge, GridConfig
from kbsc.errors import ConfigError


def test_default_grid_layout():
    rg = GridConfig().build()
    assert rg.shape == (14, 72)
    assert rg.pilot_res_per_slot == 2 * 72
    assert rg.data_res_per_slot == 12 * 72 == 864
    assert rg.overhead_fraction == pytest.approx(1 / 7)
    assert rg.cyclic_prefix_fraction == pytest.approx(5 / 77)
    # frequency first: the first 72 data REs are subcarriers 0..71 of OFDM symbol 0; pilots skipped
    pos = rg.data_positions
    assert (pos[:72, 0] == 0).all() and (pos[:72, 1] == np.arange(72)).all()
    assert not np.isin(pos[:, 0], [2, 11]).any()
    assert tuple(pos[144]) == (3, 0)  # symbols 0, 1 then symbol 2 (pilots) is skipped
    assert np.abs(np.abs(rg.pilot_values) - 1).max() < 1e-12


def test_guards_dc_and_sparse_pilots():
    rg = GridConfig(
        num_subcarriers=24, num_guard_carriers=(2, 3), dc_null=True, pilot_subcarrier_step=2
    ).build()
    usable = 24 - 5 - 1
    pilots_per_symbol = len(range(0, usable, 2))
    assert rg.pilot_res_per_slot == 2 * pilots_per_symbol
    assert rg.data_res_per_slot == 14 * usable - 2 * pilots_per_symbol
    assert rg.overhead_fraction == pytest.approx(1 - rg.data_res_per_slot / (14 * 24))
    cols = rg.data_positions[:, 1]
    assert not np.isin(cols, [0, 1, 21, 22, 23, 12]).any()


def test_num_slots_is_ceil():
    b = Bridge(grid=GridConfig(num_subcarriers=12))
    d = b.data_res_per_slot
    assert d == 144
    assert [b.num_slots(k) for k in (1, d, d + 1, 3 * d)] == [1, 1, 2, 3]
    with pytest.raises(ConfigError, match="at least one"):
        b.num_slots(0)


def test_grid_from_yaml_like_mapping():
    g = GridConfig(**{"pilot_ofdm_symbols": [3], "num_guard_carriers": [1, 1], "num_subcarriers": 36})
    assert g.pilot_ofdm_symbols == (3,) and g.num_guard_carriers == (1, 1)
    assert g.to_dict()["pilot_ofdm_symbols"] == [3]
    assert Bridge(grid={"num_subcarriers": 36}).grid.num_subcarriers == 36


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"pilot_ofdm_symbols": (2, 14)}, "pilot_ofdm_symbols"),
        ({"num_subcarriers": 0}, "num_subcarriers"),
        ({"num_guard_carriers": (40, 40)}, "num_guard_carriers"),
        ({"subcarrier_spacing": -1}, "subcarrier_spacing"),
        ({"num_ofdm_symbols": 2, "pilot_ofdm_symbols": (0, 1)}, "no data"),
        ({"num_subcarriers": 7.5}, "integer"),
    ],
)
def test_bad_grid(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        GridConfig(**kw).build()


def test_from_mapping_is_the_one_way_from_settings_to_a_grid():
    default = GridConfig()
    for empty in (None, {}, {"num_subcarriers": None}):
        assert GridConfig.from_mapping(empty) == default and GridConfig.is_default_request(empty)
    small = GridConfig.from_mapping({"num_subcarriers": 24, "pilot_ofdm_symbols": [2], "dc_null": None})
    assert small == GridConfig(num_subcarriers=24, pilot_ofdm_symbols=(2,))
    assert GridConfig.from_mapping(small) is small and not GridConfig.is_default_request(small)
    with pytest.raises(ConfigError, match="grid settings not understood"):
        GridConfig.from_mapping({"fft": 64})
    with pytest.raises(ConfigError, match="mapping"):
        GridConfig.from_mapping([("num_subcarriers", 24)])
    # every opener goes through it: the bridge, the learned systems' opener and the channel check
    from kbsc.bridge.channel_spec import check_channel
    from kbsc.bridge.training_keys import open_bridge

    settings = {"num_subcarriers": 24, "cyclic_prefix_length": None}
    assert Bridge("awgn", grid=settings).grid == open_bridge("awgn", "perfect", 0, settings).grid
    assert open_bridge("awgn", "perfect", 0, settings).grid.num_subcarriers == 24
    assert check_channel("awgn", settings) == "awgn"
