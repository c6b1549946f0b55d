"""Baseline caches check what they hand out: a payload or decoded-feature file whose content no longer matches
its digest (flipped bytes, an edited entry, an old file without a digest) is a miss, recomputed and rewritten;
a manifest mismatch names the folder to delete."""

from __future__ import annotations

import io
import json
from base64 import b64decode, b64encode
from pathlib import Path

import numpy as np
import pytest

from kbsc.baselines.cache import DecodedStore, PayloadStore, image_key
from kbsc.baselines.codecs import get_codec
from kbsc.errors import DataError
from kbsc.util import read_manifest, write_manifest


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)


def _only_file(store) -> Path:
    (path,) = [
        p for p in store.dir.rglob("*") if p.is_file() and p.name != "manifest.json" and p.suffix != ".lock"
    ]
    return path


def _split(path: Path) -> tuple[bytes, bytes]:
    head, _, body = path.read_bytes().partition(b"\n")
    return head, body


def test_a_payload_edited_in_place_is_not_used(tmp_path, image, capsys):
    codec = get_codec("jpeg")
    store = PayloadStore(codec, tmp_path)
    true = store.encode(image, 50)
    store.flush()
    path = _only_file(store)
    head, body = _split(path)
    entry = json.loads(body)
    forged = bytearray(b64decode(entry["50"]))
    forged[len(forged) // 2] ^= 0xFF
    entry["50"] = b64encode(bytes(forged)).decode()
    path.write_bytes(head + b"\n" + json.dumps(entry).encode())  # the old digest kept

    again = PayloadStore(codec, tmp_path)
    assert again.get(image_key(image), 50) is None  # a miss, not the forged payload
    err = capsys.readouterr().err
    assert err.count("kbsc: warning:") == 1 and str(path) in err and "content check" in err
    assert again.encode(image, 50) == true  # recomputed
    again.flush()
    assert PayloadStore(codec, tmp_path).get(image_key(image), 50) == true  # and rewritten with a digest
    assert "warning" not in capsys.readouterr().err


def test_flipped_bytes_and_old_files_are_misses(tmp_path, image, capsys):
    codec = get_codec("jpeg")
    store = PayloadStore(codec, tmp_path)
    store.encode(image, 30)
    store.flush()
    path = _only_file(store)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    assert PayloadStore(codec, tmp_path).get(image_key(image), 30) is None
    _, body = _split(path)
    path.write_bytes(body)  # a file without a digest (as older versions wrote them)
    assert PayloadStore(codec, tmp_path).get(image_key(image), 30) is None
    assert capsys.readouterr().err.count("kbsc: warning:") == 2


def test_a_decoded_feature_edited_in_place_is_not_used(tmp_path, image, capsys):
    codec = get_codec("jpeg")
    key = image_key(image)
    value = np.linspace(-1, 1, 18, dtype=np.float32)  # [D + 2]: features, PSNR, MS-SSIM
    store = DecodedStore(codec, "extractor-fp", tmp_path)
    store.put(key, 40, value)
    store.flush()
    np.testing.assert_array_equal(DecodedStore(codec, "extractor-fp", tmp_path).get(key, 40), value)

    path = _only_file(store)
    head, body = _split(path)
    with np.load(io.BytesIO(body)) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["q40"][:16] = arrays["q40"][:16][::-1]  # shuffled features: still a valid .npz
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(head + b"\n" + buf.getvalue())

    again = DecodedStore(codec, "extractor-fp", tmp_path)
    assert again.get(key, 40) is None
    assert "content check" in capsys.readouterr().err


def test_manifest_mismatch_names_the_folder_to_delete(tmp_path):
    store = PayloadStore(get_codec("jpeg"), tmp_path)
    m = read_manifest(store.dir)
    m["codec"]["libjpeg"] = "other"
    write_manifest(store.dir, m)
    with pytest.raises(DataError, match=rf"delete {store.dir} \(it is rebuilt on the next run\)$"):
        PayloadStore(get_codec("jpeg"), tmp_path)


def test_many_damaged_files_are_named_then_summarised(tmp_path, capsys):
    """40 damaged files: the first three by name, then one line with the count (not one warning per store)."""
    codec = get_codec("jpeg")
    store = PayloadStore(codec, tmp_path)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8) for _ in range(40)]
    for im in images:
        store.encode(im, 40)
    store.flush()
    files = [p for p in store.dir.rglob("*") if p.is_file() and p.name != "manifest.json"]
    files = [p for p in files if p.suffix != ".lock"]
    assert len(files) == 40
    for p in files:
        p.write_bytes(p.read_bytes()[:-3] + b"xyz")
    capsys.readouterr()
    again = PayloadStore(codec, tmp_path)
    assert all(again.get(image_key(im), 40) is None for im in images)
    again.flush()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4, err
    assert all("content check" in line for line in err)
    assert "37 more" in err[-1] and "40 in all" in err[-1]
