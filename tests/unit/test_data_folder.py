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
    save(root / "test" / "apple" / "u.png", np.full((32, 32, 3), 11, np.uint8))
    save(root / "test" / "zebra" / "t.png", np.full((32, 32, 3), 12, np.uint8))
    save(root / "test" / "zebra" / "u.png", np.full((32, 32, 3), 13, np.uint8))
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
    assert test.labels.tolist() == [0, 0, 1, 1] and test.class_names == train.class_names


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
    for name in ("a/1.png", "a/2.png", "b/1.png", "b/2.png"):
        save(no_test / "train" / name, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="no 'test' sub-folder"):
        get_dataset("folder", tmp_path, root=no_test).load("test")
    (no_test / "test" / "a").mkdir(parents=True)
    (no_test / "test" / "b").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        get_dataset("folder", tmp_path, root=no_test).load("test")


def test_unknown_test_class_and_unreadable_image(image_root, tmp_path):
    save(image_root / "test" / "kiwi" / "k.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="kiwi.*does not have"):
        get_dataset("folder", tmp_path, root=image_root).load("test")
    (image_root / "test" / "kiwi" / "k.png").unlink()
    (image_root / "test" / "kiwi").rmdir()
    bad = image_root / "train" / "zebra" / "c.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"cannot read image .*c\.png"):
        get_dataset("folder", tmp_path, root=image_root).load("train")


def _flat(root, counts):
    """root/<class>/<i>.png, image i of class c a flat colour encoding (c, i)."""
    for c, n in enumerate(counts):
        for i in range(n):
            save(root / f"class{c}" / f"{i:03d}.png", np.full((8, 8, 3), (c * 40, i, 7), np.uint8))
    return root


def test_folder_without_train_test_is_split_per_class(tmp_path):
    root = _flat(tmp_path / "flat", [10, 20, 7])
    ds = get_dataset("folder", tmp_path / "data", root=root)
    train, test = ds.load("train"), ds.load("test")
    assert ds.class_names == ["class0", "class1", "class2"]
    # 30 % of each class is test (rounded), the rest train; disjoint and together every file once
    assert np.bincount(test.labels).tolist() == [3, 6, 2] and np.bincount(train.labels).tolist() == [7, 14, 5]
    assert not set(train.meta["files"]) & set(test.meta["files"])
    assert len(set(train.meta["files"]) | set(test.meta["files"])) == 37
    # images match their files (label and index are encoded in the pixels)
    for ims, meta, labels in (
        (train.images, train.meta, train.labels),
        (test.images, test.meta, test.labels),
    ):
        for img, name, label in zip(ims, meta["files"], labels, strict=True):
            assert img[0, 0, 0] == 40 * label and name == f"class{label}/{img[0, 0, 1]:03d}.png"
    assert "seed 0" in train.meta["split_rule"] and "70 % train / 30 % test" in test.meta["split_rule"]
    # seeded: the same seed gives the same split, another seed another one; not simply the first files
    again = get_dataset("folder", tmp_path / "data", root=root).load("test")
    other = get_dataset("folder", tmp_path / "data", root=root, split_seed=1).load("test")
    assert again.meta["files"] == test.meta["files"] and other.meta["files"] != test.meta["files"]
    assert test.meta["files"][:3] != ["class0/000.png", "class0/001.png", "class0/002.png"]


def test_folder_needs_two_classes_and_enough_images_per_class(tmp_path):
    one = _flat(tmp_path / "one", [12])
    with pytest.raises(DataError, match="at least two classes") as err:
        get_dataset("folder", tmp_path, root=one)
    assert "\n" not in str(err.value)
    one_split = tmp_path / "one_split"
    save(one_split / "train" / "a" / "1.png", np.zeros((8, 8, 3), np.uint8))
    save(one_split / "test" / "a" / "1.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="at least two classes"):
        get_dataset("folder", tmp_path, root=one_split)
    small = _flat(tmp_path / "small", [10, 5])  # 5 images: 2 test, 3 train (enough)
    get_dataset("folder", tmp_path, root=small).load("train")
    tiny = _flat(tmp_path / "tiny", [10, 4])
    with pytest.raises(DataError, match="class 'class1' .* has 4 images: too few") as err:
        get_dataset("folder", tmp_path, root=tiny).load("train")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="test_fraction"):
        get_dataset("folder", tmp_path, root=small, test_fraction=1.5)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"train": {"a": 1, "b": 2}, "test": {"a": 2, "b": 2}}, "class 'a' has 1 image.* at least 2 train"),
        ({"train": {"a": 2, "b": 2}, "test": {"a": 2, "b": 1}}, "class 'b' has 1 image.* at least 2 test"),
        ({"train": {"a": 2, "b": 2}, "test": {"a": 2}}, "class 'b' has 0 image.* at least 2 test"),
    ],
    ids=["one training image", "one test image", "class without test images"],
)
def test_own_split_needs_two_images_per_class_and_split(layout, message, tmp_path):
    """Refused when the dataset is opened (before features or a knowledge base are written), one line."""
    root = tmp_path / "own"
    for split, classes in layout.items():
        for cls, n in classes.items():
            for i in range(n):
                save(root / split / cls / f"{i}.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=message) as err:
        get_dataset("folder", tmp_path, root=root)
    assert "\n" not in str(err.value)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    from kbsc.data.folder import load_image

    ramp = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)  # 0 … 61380
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    expected = np.rint(ramp / 65535 * 255).astype(np.uint8)
    assert np.array_equal(out[..., 0], expected) and len(np.unique(out)) > 200


def test_pixel_limit_is_one_line_without_pillow_warning(tmp_path, monkeypatch, recwarn):
    import kbsc.data.folder as folder

    save(tmp_path / "big.png", np.zeros((300, 200, 3), np.uint8))
    monkeypatch.setattr(folder, "MAX_PIXELS", 50_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000)  # Pillow would warn (and above 80,000 refuse)
    with pytest.raises(DataError, match="60,000 pixels, above the limit of 50,000") as err:
        folder.load_image(tmp_path / "big.png")
    assert "\n" not in str(err.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # past Pillow's own error threshold
    with pytest.raises(DataError, match="more than 50,000 pixels"):
        folder.load_image(tmp_path / "big.png")
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_entries_that_are_not_regular_files_are_reported_once(tmp_path, capsys):
    import os

    root = _flat(tmp_path / "flat", [8, 8])
    os.mkfifo(root / "class0" / "zz-fifo.png")
    (root / "class1" / "zz-zero.png").symlink_to("/dev/zero")
    ds = get_dataset("folder", tmp_path / "data", root=root)
    assert len(ds.load("train")) + len(ds.load("test")) == 16
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("not regular files" in line for line in err), err
