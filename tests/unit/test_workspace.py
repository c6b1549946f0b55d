"""prepare_workspace: consistent fields, features equal to the extractor's, clean accuracy by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from kbsc.data.base import ImageSet
from kbsc.data.cifar_format import write_cifar_folder
from kbsc.workspace import Workspace, prepare_workspace

TINY = {"max_steps": 12, "eval_every": 4, "min_steps": 0, "width": 8, "batch_size": 32, "threads": 1}


def blobs(n_per_class: int, seed: int, name: str) -> ImageSet:
    """4 classes: a bright square in one of the four quadrants, random colours and noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for cls in range(4):
        for _ in range(n_per_class):
            img = rng.normal(rng.uniform(40, 90), 20, (32, 32, 3))
            y, x = 16 * (cls // 2) + rng.integers(0, 6), 16 * (cls % 2) + rng.integers(0, 6)
            img[y : y + 10, x : x + 10] += rng.uniform(80, 160, 3)
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(cls)
    labels = np.array(labels, np.int64)
    return ImageSet(np.stack(images), labels, ["tl", "tr", "bl", "br"], name, coarse=labels // 2)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    base = tmp_path_factory.mktemp("ws")
    root = base / "cifar-100-python"
    write_cifar_folder(
        root, {"train": blobs(30, 1, "train"), "test": blobs(11, 2, "test")}, ["top", "bottom"]
    )
    return prepare_workspace(
        "cifar100", data_dir=base / "data", dataset_root=root, show_progress=False, extractor_options=TINY
    )


def test_fields_are_consistent(workspace):
    ws = workspace
    assert len(ws.train) == 120 and len(ws.test) == 44
    # Per class 11 test images: 5 sent, 6 in the knowledge base (the odd one goes to the receiver).
    assert len(ws.sender) == 20 and len(ws.receiver) == 24 and len(ws.kb) == 24
    assert not set(ws.sender.ids.tolist()) & set(ws.receiver.ids.tolist())
    assert sorted([*ws.sender.ids.tolist(), *ws.receiver.ids.tolist()]) == ws.test.ids.tolist()
    for feats, images in [(ws.train_features, ws.train), (ws.sender_features, ws.sender)]:
        assert feats.dtype == np.float32 and feats.shape == (len(images), 512)
        np.testing.assert_allclose(feats, ws.extractor.extract(images.images, show_progress=False), atol=1e-6)
    np.testing.assert_array_equal(ws.kb.labels, ws.receiver.labels)


def test_clean_accuracy_matches_brute_force(workspace):
    ws = workspace
    order = np.argsort(-(ws.sender_features @ ws.receiver_features.T), axis=1, kind="stable")
    retrieved = ws.receiver.labels[order[:, :5]]
    assert ws.clean.n == 20
    assert ws.clean.top1 == pytest.approx(np.mean(retrieved[:, 0] == ws.sender.labels))
    assert ws.clean.top5 == pytest.approx(np.mean((retrieved == ws.sender.labels[:, None]).any(axis=1)))
    assert ws.clean.top1_lo <= ws.clean.top1 <= ws.clean.top1_hi
    assert ws.clean.top1 >= 0.6  # 4 easy classes, chance 0.25


def test_second_call_reuses_everything(workspace):
    ws = workspace
    again = prepare_workspace(
        "cifar100",
        data_dir=ws.data_dir,
        dataset_root=ws.data_dir.parent / "cifar-100-python",
        show_progress=False,
        extractor_options=TINY,
    )
    assert again.extractor.fingerprint == ws.extractor.fingerprint
    np.testing.assert_array_equal(again.train_features, ws.train_features)
    np.testing.assert_array_equal(again.sender_features, ws.sender_features)
    assert again.clean == ws.clean and again.kb_dir == ws.kb_dir


def test_a_knowledge_base_of_an_older_format_is_rebuilt(workspace):
    import json

    from kbsc.kb.knowledge_base import KB_FORMAT

    ws = workspace
    path = ws.kb_dir / "manifest.json"
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "format": KB_FORMAT - 1, "content_hash": "from-an-old-version"}))
    again = prepare_workspace(
        "cifar100",
        data_dir=ws.data_dir,
        dataset_root=ws.data_dir.parent / "cifar-100-python",
        show_progress=False,
        extractor_options=TINY,
    )
    assert json.loads(path.read_text())["format"] == KB_FORMAT
    np.testing.assert_array_equal(again.kb.features, ws.kb.features)
