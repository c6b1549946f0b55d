"""CIFAR-100 python-folder reader on fabricated pickles; the restricted unpickler; folder errors."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from kbsc.data import CIFAR_FILES, get_dataset, read_cifar_split, safe_loads
from kbsc.errors import ConfigError, DataError

FINE = [b"apple", b"bee", b"cloud", b"dolphin"]
COARSE = [b"fruit", b"animal"]


def fabricate(folder, n_train=12, n_test=8, protocol=2, seed=0):
    """Write a tiny cifar-100-python folder exactly as the original is laid out (byte keys, planar rows)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(x) for x in rng.permutation(np.arange(n) % len(FINE))]  # every class twice at least
        coarse = [0 if f == 0 else 1 for f in fine]
        record = {
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
            b"batch_label": b"fabricated",
            b"fine_labels": fine,
            b"coarse_labels": coarse,
            b"data": data,
        }
        with open(folder / split, "wb") as fh:
            pickle.dump(record, fh, protocol=protocol)
        truth[split] = (data, fine, coarse)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": FINE, b"coarse_label_names": COARSE}, fh, protocol=protocol)
    return truth


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_reader_decodes_planar_rows_labels_and_names(tmp_path, protocol):
    root = tmp_path / "cifar-100-python"
    truth = fabricate(root, protocol=protocol)
    for split in ("train", "test"):
        data, fine, coarse = truth[split]
        s = read_cifar_split(root, split)
        n = data.shape[0]
        assert s.images.shape == (n, 32, 32, 3) and s.images.dtype == np.uint8
        # Row layout: 1024 red values, then green, then blue, each 32×32 row-major.
        i, y, x = n - 1, 5, 17
        for c in range(3):
            assert s.images[i, y, x, c] == data[i, c * 1024 + y * 32 + x]
        assert s.labels.tolist() == fine and s.labels.dtype == np.int64
        assert s.coarse.tolist() == coarse
        assert s.class_names == ["apple", "bee", "cloud", "dolphin"]
        assert s.ids.tolist() == list(range(n))
        assert s.name == f"cifar100-{split}"


def test_get_dataset_cifar100(tmp_path):
    root = tmp_path / "c"
    truth = fabricate(root)
    ds = get_dataset("cifar100", tmp_path / "data", root=root)
    assert ds.root == root
    assert ds.load("test").labels.tolist() == truth["test"][1]
    assert ds.load("test") is ds.load("test")  # kept in memory
    with pytest.raises(ConfigError, match="--dataset-root"):
        get_dataset("cifar100", tmp_path / "data")
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        get_dataset("imagenet", tmp_path / "data")


class Exploit:
    """A pickle payload that would run a shell command when unpickled by a bare pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": Exploit(marker)}, protocol=2)
    with pytest.raises(DataError, match=r"system.*refusing"):
        safe_loads(payload)
    assert not marker.exists()
    # The same payload inside a CIFAR split file: the reader refuses it too.
    root = tmp_path / "c"
    fabricate(root)
    (root / "train").write_bytes(payload)
    with pytest.raises(DataError, match="refusing"):
        read_cifar_split(root, "train")
    assert not marker.exists()
    # Sanity check of the test itself: a bare pickle.loads would have run it.
    pickle.loads(payload)
    assert marker.exists()


def test_restricted_unpickler_refuses_other_callables():
    import builtins

    for obj in (builtins.eval, builtins.getattr, pickle.loads):
        with pytest.raises(DataError, match="refusing"):
            safe_loads(pickle.dumps(obj))


class _Allocate:
    """A pickle that asks numpy for 2**45 bytes (32 TiB) through an allowed name."""

    def __init__(self, how: str) -> None:
        self.how = how

    def __reduce__(self):
        if self.how == "ndarray":
            return (np.ndarray, ((2**45,), "u1"))
        return (np._core.multiarray._reconstruct, (np.ndarray, (2**45,), b"u1"))


@pytest.mark.parametrize("how", ["ndarray", "reconstruct"])
def test_a_pickle_cannot_ask_for_unbounded_memory(tmp_path, how):
    payload = pickle.dumps({b"data": _Allocate(how), b"fine_labels": []}, protocol=2)
    assert b"ndarray" in payload
    with pytest.raises(DataError, match="pickle|array"):
        safe_loads(payload)
    root = tmp_path / "c"
    fabricate(root)
    (root / "train").write_bytes(payload)
    with pytest.raises(DataError):
        read_cifar_split(root, "train")


def test_missing_folder_names_expected_files(tmp_path):
    with pytest.raises(DataError, match="train, test, meta"):
        read_cifar_split(tmp_path / "nowhere", "train")
    root = tmp_path / "c"
    fabricate(root)
    (root / "meta").unlink()
    with pytest.raises(DataError, match=r"lacks meta.*train, test, meta"):
        get_dataset("cifar100", tmp_path, root=root)


def test_parent_folder_gets_a_hint(tmp_path):
    fabricate(tmp_path / "cifar-100-python")
    with pytest.raises(DataError, match="did you mean .*cifar-100-python"):
        get_dataset("cifar100", tmp_path, root=tmp_path)


@pytest.mark.parametrize(
    "record, message",
    [
        ([1, 2, 3], "not a dict"),
        ({b"fine_labels": [0]}, "lacks b'data'"),
        ({b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}, r"uint8 \[N, 3072\]"),
        ({b"data": np.zeros((2, 3072), np.float32), b"fine_labels": [0, 1]}, r"uint8 \[N, 3072\]"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0]}, "2 integer labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 9]}, "outside"),
        ({b"data": np.zeros((0, 3072), np.uint8), b"fine_labels": []}, "holds no images"),
    ],
)
def test_malformed_split_file(tmp_path, record, message):
    root = tmp_path / "c"
    fabricate(root)
    (root / "test").write_bytes(pickle.dumps(record, protocol=2))
    with pytest.raises(DataError, match=message):
        read_cifar_split(root, "test")


def test_truncated_file(tmp_path):
    root = tmp_path / "c"
    fabricate(root)
    data = (root / "train").read_bytes()
    (root / "train").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable pickle"):
        read_cifar_split(root, "train")


def test_expected_file_names():
    assert CIFAR_FILES == ("train", "test", "meta")


class _SubarrayPlaceholder:
    """The issue's 1.8 KB pickle: an allowed one-element placeholder whose dtype is a 2**27-object subarray
    (1 GiB for its single element)."""

    def __reduce__(self):
        return (np._core.multiarray._reconstruct, (np.ndarray, (1,), np.dtype(("O", (2**27,)))))


class _ObjectStateTooBig:
    """A placeholder whose BUILD asks for 2**27 object elements with two in the data."""

    def __reduce__(self):
        return (
            np._core.multiarray._reconstruct,
            (np.ndarray, (0,), b"b"),
            (1, (2**27,), np.dtype("O"), False, [1, 2]),
        )


@pytest.mark.parametrize(
    "obj", [_SubarrayPlaceholder(), _ObjectStateTooBig()], ids=["subarray", "object state"]
)
def test_subarray_dtypes_and_oversized_states_are_refused_before_allocating(obj):
    import resource

    payload = pickle.dumps({b"data": obj, b"fine_labels": []}, protocol=2)
    assert len(payload) < 2000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="subarray|does not hold"):
        safe_loads(payload)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB


def test_plain_arrays_still_load():
    arrs = {b"u8": np.arange(12, dtype=np.uint8).reshape(3, 4), b"obj": np.array([b"a", 1], dtype=object)}
    for protocol in (2, 4, 5):
        out = safe_loads(pickle.dumps(arrs, protocol=protocol))
        assert np.array_equal(out[b"u8"], arrs[b"u8"]) and list(out[b"obj"]) == [b"a", 1]


@pytest.mark.parametrize(
    ("split", "labels", "message"),
    [
        ("test", [0, 1, 2, 3], "class b?'apple' has 1 image"),
        ("test", [0, 0, 0, 0, 1, 1, 1, 2], "has 1 image"),
        ("train", [0] * 12, "1 class"),
    ],
    ids=["one test image per class", "a class with one test image", "single class"],
)
def test_too_few_images_per_class_is_refused_before_anything_is_built(tmp_path, split, labels, message):
    root = tmp_path / "c"
    fabricate(root)
    with open(root / split, "rb") as fh:
        record = pickle.load(fh)
    record[b"fine_labels"] = labels
    record[b"data"] = record[b"data"][: len(labels)]
    record[b"coarse_labels"] = [0] * len(labels)
    with open(root / split, "wb") as fh:
        pickle.dump(record, fh, protocol=2)
    ds = get_dataset("cifar100", tmp_path / "data", root=root)
    with pytest.raises(DataError, match=message) as err:
        ds.load("train")  # the first load checks both splits
    assert "\n" not in str(err.value)
