"""A run on a data directory whose trained model was altered reproduces the clean table exactly (the model is
refused with one warning and trained again), and never reports the altered model (docs/design.md §7)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
from test_semantic_system import TRAIN  # also registers the semantic-toy context

from kbsc.experiments.config import parse_config
from kbsc.experiments.runner import run_experiment


def _config():
    return parse_config(
        {
            "plugins": ["test_semantic_system"],
            "dataset": {"name": "semantic-toy"},
            "extractor": {"name": "none"},
            "n_images": 100,
            "snr_db": [0],
            "cbr": [4 / 3072],
            "systems": [{"name": "kbsc", "options": TRAIN}],
        },
        allow_code=True,
    )


def _flip_tensor_bytes(model_pt: Path) -> None:
    """Invert every byte of every tensor storage of a torch zip (its CRCs are not checked on load)."""
    raw = bytearray(model_pt.read_bytes())
    with zipfile.ZipFile(model_pt) as zf:
        for info in zf.infolist():
            if "/data/" in info.filename:
                start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                for i in range(start, start + info.file_size):
                    raw[i] ^= 0xFF
    model_pt.write_bytes(bytes(raw))


def test_tampered_model_is_retrained_and_the_table_is_the_clean_one(tmp_path, capfd):
    data = tmp_path / "data"
    kw = {"backend": "serial", "data_dir": data, "show_progress": False, "allow_code": True}
    clean = run_experiment(_config(), tmp_path / "clean", **kw).results
    (model_pt,) = list((data / "semantic").glob("*/model.pt"))
    _flip_tensor_bytes(model_pt)
    capfd.readouterr()
    again = run_experiment(_config(), tmp_path / "again", **kw).results
    err = [line for line in capfd.readouterr().err.splitlines() if "model.pt" in line]
    assert len(err) == 1 and "does not match the digest" in err[0], err
    drop = ["wall_s", "provenance"]
    pd.testing.assert_frame_equal(clean.drop(columns=drop), again.drop(columns=drop))
