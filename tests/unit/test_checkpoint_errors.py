"""Checkpoints from users are untrusted: a pickle payload, a missing config or foreign weights give one
:class:`DataError` line (what the CLI prints), never a traceback, and the payload's code never runs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from kbsc.errors import DataError
from kbsc.util import hash_file, write_manifest


class Payload:
    """Unpickling this would create ``marker`` (what an attacker's file would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _standin_folder(tmp_path: Path, blob, with_config: bool = True) -> Path:
    from kbsc.features.standin import STANDIN_VERSION, WEIGHTS_NAME, StandinConfig

    folder = tmp_path / "standin"
    folder.mkdir()
    torch.save(blob, folder / WEIGHTS_NAME)
    manifest = {
        "kind": "standin",
        "version": STANDIN_VERSION,
        "weights_sha256": hash_file(folder / WEIGHTS_NAME, 64),
    }
    if with_config:
        manifest["config"] = asdict(StandinConfig())
    write_manifest(folder, manifest)
    return folder


def test_standin_checkpoint_with_a_pickle_payload(tmp_path):
    from kbsc.features.standin import StandinExtractor

    marker = tmp_path / "ran"
    folder = _standin_folder(tmp_path, {"state_dict": Payload(marker)})
    with pytest.raises(DataError, match=r"weights.pt is not a stand-in checkpoint \(UnpicklingError"):
        StandinExtractor.load(folder / "weights.pt")
    assert not marker.exists()


def test_standin_checkpoint_without_config_or_with_foreign_weights(tmp_path):
    from kbsc.features.standin import StandinExtractor

    folder = _standin_folder(tmp_path, {"state_dict": {}}, with_config=False)
    with pytest.raises(DataError, match="no valid stand-in config"):
        StandinExtractor.load(folder)
    other = tmp_path / "other"
    other.mkdir()
    folder = _standin_folder(other, {"weights": torch.zeros(3)})
    with pytest.raises(DataError, match="is not a stand-in checkpoint"):
        StandinExtractor.load(folder)


def test_huggingface_folder_with_a_pickle_payload(tmp_path):
    transformers = pytest.importorskip("transformers")
    from kbsc.features.clip import load_huggingface

    folder = tmp_path / "hf"
    transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
        projection_dim=16,
    ).save_pretrained(folder)
    marker = tmp_path / "ran"
    torch.save(
        {"vision_model.embeddings.patch_embedding.weight": Payload(marker)}, folder / "pytorch_model.bin"
    )
    with pytest.raises(DataError, match=f"cannot load {folder} as a CLIP vision model"):
        load_huggingface(folder)
    assert not marker.exists()


def test_semantic_checkpoint_without_config(tmp_path):
    from kbsc.semantic.train import load_codec

    (tmp_path / "codec").mkdir()
    torch.save({"state": {}}, tmp_path / "codec" / "model.pt")
    with pytest.raises(DataError, match=r"model.pt is not a codec checkpoint \(no valid config: KeyError"):
        load_codec(tmp_path / "codec")
    marker = tmp_path / "ran"
    torch.save({"config": Payload(marker)}, tmp_path / "codec" / "model.pt")
    with pytest.raises(DataError, match="is not a codec checkpoint"):
        load_codec(tmp_path / "codec")
    assert not marker.exists()
