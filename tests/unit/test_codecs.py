"""Image codecs: bit accounting, budget search, lossless round trips, corrupt payloads never raise."""

import numpy as np
import pytest

from kbsc.baselines.codecs import IMAGE_CODECS, get_codec
from kbsc.baselines.codecs.heif_box import mdat_nal_units
from kbsc.baselines.codecs.hevc import HEADER_BYTES
from kbsc.errors import ConfigError
from kbsc.jscc.toy import toy_images


@pytest.fixture(scope="module")
def images():
    ims, _ = toy_images(4, seed=7)
    rng = np.random.default_rng(0)
    noisy = np.clip(ims.astype(int) + rng.integers(-20, 21, ims.shape), 0, 255).astype(np.uint8)
    return np.concatenate([ims[:2], noisy[:2]])


@pytest.fixture(scope="module")
def hevc():
    return get_codec("hevc")


def test_registry_names():
    assert {"hevc", "bpg", "jpeg"} <= set(IMAGE_CODECS.names())


def test_hevc_counts_slice_bytes_plus_header_only(hevc, images):
    im = images[0]
    heif = hevc._heif(im, 30)
    nals = mdat_nal_units(heif)
    payload = hevc.encode(im, 30)
    assert len(nals) == 1 and (nals[0][0] >> 1) & 63 in range(16, 22)  # one IRAP slice NAL unit
    assert len(payload) == len(nals[0]) + HEADER_BYTES
    assert hevc.count_bits(payload) == 8 * len(payload)
    assert len(heif) - len(payload) > 300  # container + parameter sets are not counted


def test_hevc_bits_fall_with_qp_and_decode_quality_rises(hevc, images):
    im = images[1]
    sizes = [len(hevc.encode(im, q)) for q in (51, 40, 30, 20, 10)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    err = [np.abs(hevc.decode(hevc.encode(im, q), im.shape).astype(int) - im).mean() for q in (45, 25, 5)]
    assert err[0] > err[1] > err[2]


@pytest.mark.parametrize("name", ["hevc", "jpeg"])
def test_budget_search_gives_best_fitting_quality(name, images):
    codec = get_codec(name)
    qs = codec.qualities
    for im in images[:2]:
        for budget in (300, 900, 2500):
            enc = codec.encode_under_budget(im, budget)
            if enc is None:
                assert codec.count_bits(codec.encode(im, qs[0])) > budget
                continue
            assert enc.bits <= budget and enc.bits == codec.count_bits(enc.payload)
            i = qs.index(enc.quality)
            if i + 1 < len(qs):  # the next better quality does not fit
                assert codec.count_bits(codec.encode(im, qs[i + 1])) > budget
    assert codec.encode_under_budget(images[0], 8) is None  # nothing fits one byte


def test_hevc_lossless_round_trip_exact(hevc, images):
    for im in images:
        out = hevc.decode(hevc.encode(im, hevc.lossless_quality), im.shape)
        np.testing.assert_array_equal(out, im)


def test_jpeg_rebuilds_headers_from_quality(images):
    jpeg = get_codec("jpeg")
    im = images[0]
    p = jpeg.encode(im, 75)
    out = jpeg.decode(p, im.shape)
    assert out.shape == im.shape and np.abs(out.astype(int) - im).mean() < 8


@pytest.mark.parametrize("name", ["hevc", "jpeg"])
def test_corrupt_payloads_never_raise(name, images):
    codec = get_codec(name)
    rng = np.random.default_rng(1)
    im = images[2]
    good = codec.encode(im, codec.qualities[len(codec.qualities) // 2])
    parsed = 0
    for i in range(240):
        kind = i % 4
        if kind == 0:
            b = rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
        elif kind == 1:
            arr = bytearray(good)
            for j in rng.integers(0, 8 * len(arr), int(rng.integers(1, 30))):
                arr[j // 8] ^= 1 << (j % 8)
            b = bytes(arr)
        elif kind == 2:
            b = good[: int(rng.integers(0, len(good)))]
        else:  # payload body intact, garbage after it (TB filler damaged)
            b = good + rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
        out = codec.decode(b, im.shape)
        assert out is None or (out.shape == im.shape and out.dtype == np.uint8)
        parsed += out is not None
    assert parsed > 0  # damaged-but-parseable streams are decoded (concealment), not all dropped


def test_bad_quality_and_image_rejected(hevc, images):
    with pytest.raises(ConfigError, match="quality"):
        hevc.encode(images[0], 60)
    with pytest.raises(ConfigError, match="uint8"):
        hevc.encode(images[0].astype(np.float32), 30)


def test_bpg_absent_gives_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="bpgenc"):
        get_codec("bpg")


def test_bpg_version_probe_rejects_other_program(tmp_path):
    from kbsc.baselines.codecs.bpg import bpg_version

    fake = tmp_path / "bpgenc"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(ConfigError, match="does not look like bpgenc"):
        bpg_version(str(fake))
