"""Test-wide settings: quiet progress bars, no reference model store, one torch thread, a temporary data
directory."""

import os

os.environ.setdefault("KBSC_QUIET", "1")
# no committed reference models (models/) unless a test points KBSC_MODELS at its own store: tests train
os.environ.setdefault("KBSC_MODELS", "")
# the suite computes on the CPU even on a GPU machine (expected values are CPU values); `make gpu-check`
# compares the devices. Tests of the setting itself clear it.
os.environ.setdefault("KBSC_DEVICE", "cpu")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def kbsc_data(tmp_path, monkeypatch):
    """An empty data directory used as $KBSC_DATA."""
    d = tmp_path / "kbsc-data"
    monkeypatch.setenv("KBSC_DATA", str(d))
    return d


@pytest.fixture(autouse=True)
def _device_setting_restored():
    """The device setting (``--device``/``set_device`` export ``KBSC_DEVICE``; a run exports
    ``KBSC_PRECISION``) does not leak from one test into the next."""
    from kbsc.util import device

    names = (device.DEVICE_ENV, device.PRECISION_ENV, "CUBLAS_WORKSPACE_CONFIG")
    env = {name: os.environ.get(name) for name in names}
    state = dict(device._state)
    yield
    device._state.update(state)
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
