"""synthetic100: determinism, class subsets, shapes/labels, the class design, the CIFAR-format cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kbsc.data import generate_synthetic100, get_dataset, read_cifar_split, synthetic_cache_dir
from kbsc.data.synthetic_design import N_CLASSES, PER_GROUP, class_design

SMALL = {"n_train": 4, "n_test": 2, "classes": [0, 1, 7, 42]}


def by_class(images, labels):
    """Images of each class as a sorted list of byte strings (order-free comparison)."""
    return {int(c): sorted(im.tobytes() for im in images[labels == c]) for c in np.unique(labels)}


def test_deterministic_and_seed_dependent():
    a_train, a_test = generate_synthetic100(0, show_progress=False, **SMALL)
    b_train, b_test = generate_synthetic100(0, show_progress=False, **SMALL)
    c_train, _ = generate_synthetic100(1, show_progress=False, **SMALL)
    assert np.array_equal(a_train.images, b_train.images) and np.array_equal(a_test.images, b_test.images)
    assert np.array_equal(a_train.labels, b_train.labels)
    assert not np.array_equal(a_train.images, c_train.images)
    assert a_train.fingerprint == b_train.fingerprint != c_train.fingerprint


def test_class_subset_gives_the_same_images():
    train, _ = generate_synthetic100(0, show_progress=False, **SMALL)
    one, _ = generate_synthetic100(0, n_train=4, n_test=2, classes=[7], show_progress=False)
    assert by_class(one.images, one.labels)[7] == by_class(train.images, train.labels)[7]


def test_shapes_labels_and_variety():
    train, test = generate_synthetic100(3, show_progress=False, **SMALL)
    assert train.images.shape == (16, 32, 32, 3) and train.images.dtype == np.uint8
    assert test.images.shape == (8, 32, 32, 3)
    for s, n in ((train, 4), (test, 2)):
        assert sorted(np.unique(s.labels).tolist()) == SMALL["classes"]
        assert all((s.labels == c).sum() == n for c in SMALL["classes"])
        assert np.array_equal(s.coarse, s.labels // PER_GROUP)
        assert s.ids.tolist() == list(range(len(s)))
        assert len(s.class_names) == N_CLASSES == len(set(s.class_names))
    assert not np.array_equal(np.sort(train.labels), train.labels)  # shuffled like CIFAR's files
    assert len({im.tobytes() for im in train.images}) == len(train)  # no two images alike
    assert train.images.std() > 30 and train.images.min() < 20 and train.images.max() > 235


def test_workers_do_not_change_the_result():
    kw = {"n_train": 2, "n_test": 1, "classes": range(10), "show_progress": False}
    one = generate_synthetic100(5, workers=1, **kw)
    two = generate_synthetic100(5, workers=2, **kw)
    assert all(
        np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
        for a, b in zip(one, two, strict=True)
    )


def test_class_design_groups_share_palettes_and_pairs_share_shapes():
    specs = class_design(0)
    assert len(specs) == N_CLASSES and [s.label for s in specs] == list(range(N_CLASSES))
    for g in range(N_CLASSES // PER_GROUP):
        group = specs[g * PER_GROUP : (g + 1) * PER_GROUP]
        assert len({s.palette for s in group}) == 1  # colour names at most the group
        for a, b in ((group[0], group[1]), (group[2], group[3])):
            assert a.shape == b.shape and a.texture == b.texture  # siblings: same shape and texture family
            assert (a.period, a.overlay) != (b.period, b.overlay)  # ... differing in a detail
        assert len({group[0].shape, group[2].shape, group[4].shape}) == 3
    palettes = {s.palette for s in specs}
    assert len(palettes) == N_CLASSES // PER_GROUP
    assert class_design(0) == specs and class_design(1) != specs


def test_cache_is_cifar_format_and_reused(tmp_path):
    ds = get_dataset("synthetic100", tmp_path, seed=2, show_progress=False, **SMALL)
    train = ds.load("train")
    folder = synthetic_cache_dir(tmp_path, 2, 4, 2, tuple(SMALL["classes"]))
    assert ds.root == folder and {p.name for p in folder.iterdir()} >= {
        "train",
        "test",
        "meta",
        "manifest.json",
    }
    direct, _ = generate_synthetic100(2, show_progress=False, **SMALL)
    assert np.array_equal(train.images, direct.images) and np.array_equal(train.labels, direct.labels)
    assert train.class_names == direct.class_names and np.array_equal(train.coarse, direct.coarse)
    # The plain CIFAR reader serves the cache.
    assert np.array_equal(read_cifar_split(folder, "test").images, ds.load("test").images)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (
        manifest["seed"] == 2
        and manifest["name"] == "synthetic100"
        and set(manifest["files"])
        == {
            "train",
            "test",
            "meta",
        }
    )
    mtime = (folder / "train").stat().st_mtime_ns
    again = get_dataset("synthetic100", tmp_path, seed=2, show_progress=False, **SMALL).load("train")
    assert (folder / "train").stat().st_mtime_ns == mtime  # reused, not regenerated
    assert np.array_equal(again.images, train.images)


@pytest.mark.parametrize("damage", ["corrupt", "stale"])
def test_damaged_cache_is_regenerated(tmp_path, capsys, damage):
    ds = get_dataset("synthetic100", tmp_path, show_progress=False, **SMALL)
    good = ds.load("train").images.copy()
    folder = ds.root
    if damage == "corrupt":
        data = bytearray((folder / "train").read_bytes())
        data[-100] ^= 0xFF
        (folder / "train").write_bytes(bytes(data))
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["generator_version"] = -1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    fresh = get_dataset("synthetic100", tmp_path, show_progress=False, **SMALL).load("train")
    err = capsys.readouterr().err
    assert "regenerating" in err and ("changed" in err if damage == "corrupt" else "generator_version" in err)
    assert np.array_equal(fresh.images, good)


def test_synthetic_rejects_a_root(tmp_path):
    from kbsc.errors import ConfigError

    with pytest.raises(ConfigError, match="generated"):
        get_dataset("synthetic100", tmp_path, root=tmp_path)
    with pytest.raises(ConfigError, match="not colour"):
        get_dataset("synthetic100", tmp_path, colour=1)
