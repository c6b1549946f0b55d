"""Image-folder dataset: layout, RGB conversion, 32×32 resize, stable order, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kbsc.data import get_dataset
from kbsc.errors import ConfigError, DataError


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    save(root / "train" / "zebra" / "b.png", rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    save(root / "train" / "zebra" / "a.jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    save(root / "train" / "apple" / "x.png", np.full((32, 32), 77, np.uint8))  # greyscale
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    save(root / "train" / "apple" / "y.png", rgba)
    (root / "train" / "apple" / "notes.txt").write_text("not an image")
    save(root / "test" / "apple" / "t.png", np.full((32, 32, 3), 10, np.uint8))
    return root


def test_loads_sorted_classes_rgb_32(image_root, tmp_path):
    ds = get_dataset("folder", tmp_path / "data", root=image_root)
    train = ds.load("train")
    assert train.class_names == ["apple", "zebra"]
    assert train.images.shape == (4, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.tolist() == [0, 0, 1, 1]
    assert train.meta["files"] == ["apple/x.png", "apple/y.png", "zebra/a.jpg", "zebra/b.png"]
    assert train.ids.tolist() == [0, 1, 2, 3]
    assert (train.images[0] == 77).all()  # grey → equal RGB channels
    assert (train.images[1, :, :, 0] == 200).all() and (train.images[1, :, :, 1:] == 0).all()  # RGBA → RGB
    test = ds.load("test")
    assert test.labels.tolist() == [0] and test.class_names == train.class_names


def test_folder_errors(image_root, tmp_path):
    with pytest.raises(ConfigError, match="--dataset-root"):
        get_dataset("folder", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        get_dataset("folder", tmp_path, root=tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no class sub-folders"):
        get_dataset("folder", tmp_path, root=empty)
    no_test = tmp_path / "no_test"
    save(no_test / "train" / "a" / "1.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="no 'test' sub-folder"):
        get_dataset("folder", tmp_path, root=no_test).load("test")
    (no_test / "test" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        get_dataset("folder", tmp_path, root=no_test).load("test")


def test_unknown_test_class_and_unreadable_image(image_root, tmp_path):
    save(image_root / "test" / "kiwi" / "k.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="kiwi.*does not have"):
        get_dataset("folder", tmp_path, root=image_root).load("test")
    bad = image_root / "train" / "zebra" / "c.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"cannot read image .*c\.png"):
        get_dataset("folder", tmp_path, root=image_root).load("train")
