"""Shortcuts of the conventional link that must not change a number: each gives what it replaces, bit for bit.

* the fallback image's per-channel mean from an integer sum (no float64 copy of the training split);
* NR links shared per process (:func:`kbsc.nrlink.link.shared_link`), built with the trial TB encoder;
* PSNR and MS-SSIM per image, whatever the batch: the envelope computes a concealed outcome's MS-SSIM only for
  the winners, in another batch than the exhaustive evaluation.
"""

import numpy as np
import pytest

from kbsc.baselines.pipeline import _channel_mean, fallback_image
from kbsc.metrics.image import ms_ssim, psnr
from kbsc.nrlink.link import NRLink, shared_link


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.float32])
def test_channel_mean_is_the_float64_mean(dtype):
    rng = np.random.default_rng(0)
    for n in (1, 3, 7, 1000):
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max, size=(n, 6, 5, 3), endpoint=True).astype(dtype)
        else:
            x = (rng.standard_normal((n, 6, 5, 3)) * 100).astype(dtype)
        ref = np.asarray(x, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        assert _channel_mean(x, 3).tobytes() == ref.tobytes()
    x = np.full((4, 2, 2, 3), 255, np.uint8)
    assert np.array_equal(fallback_image((2, 2, 3), x), x[0])


def test_shared_link_is_one_link_per_arguments():
    a = shared_link(384, 4)
    assert shared_link(384, 4) is a
    assert shared_link(384, 4, decoder="layered-oms") is not a
    fresh = NRLink(384, 4)
    assert (a.n_mother, a.n_coded, a.payload_bits) == (fresh.n_mother, fresh.n_coded, fresh.payload_bits)
    bits = np.random.default_rng(1).integers(0, 2, (3, a.payload_bits), dtype=np.uint8)
    import torch

    with torch.no_grad():
        ca = a.encoder(torch.as_tensor(bits, dtype=torch.float32))
        cf = fresh.encoder(torch.as_tensor(bits, dtype=torch.float32))
    assert torch.equal(ca, cf)


def test_metrics_do_not_depend_on_the_batch():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (120, 32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    b[::7] = rng.integers(0, 256, b[::7].shape, dtype=np.uint8)
    b[::11] = 128
    full_m, full_p = ms_ssim(a, b), psnr(a, b)
    for idx in (np.arange(1), rng.permutation(120)[:17], np.arange(5, 120, 3), rng.permutation(120)):
        assert ms_ssim(a[idx], b[idx]).tobytes() == full_m[idx].tobytes()
        assert psnr(a[idx], b[idx]).tobytes() == full_p[idx].tobytes()
    for i in range(0, 120, 13):
        assert ms_ssim(a[i], b[i]).tobytes() == full_m[i : i + 1].tobytes()


def test_fallback_metrics_memo_is_the_batch_computation(tmp_path):
    """An image shown the fallback gets the PSNR/MS-SSIM of the fallback against it, memo or not."""
    from kbsc.baselines.cache import image_key
    from kbsc.baselines.pipeline import BaselineRunner

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    fb = fallback_image((32, 32, 3), images)
    keys = [image_key(im) for im in images]
    runner = BaselineRunner(cache_dir=tmp_path)
    ref = np.broadcast_to(fb, images.shape)
    want_p, want_m = psnr(images, ref), ms_ssim(images, ref)
    for idx in (np.arange(5, 30), np.arange(40), np.array([3, 3, 7, 39, 0]), np.arange(40)[::-1]):
        p, m = runner.fallback_metrics(images[idx], [keys[i] for i in idx], fb)
        assert p.tobytes() == want_p[idx].tobytes() and m.tobytes() == want_m[idx].tobytes()
    other = np.full_like(fb, 128)  # another fallback is another memo entry
    p, _ = runner.fallback_metrics(images[:4], keys[:4], other)
    assert p.tobytes() == psnr(images[:4], np.broadcast_to(other, (4, 32, 32, 3))).tobytes()
