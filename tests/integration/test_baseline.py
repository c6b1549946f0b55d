"""The conventional systems end to end on the toy world: failure modes, unsent images, caching, the CLI."""

import numpy as np
import pytest

from kbsc.baselines.codecs import hevc as hevc_mod
from kbsc.baselines.pipeline import BaselineRunner, fallback_image
from kbsc.bridge import Bridge
from kbsc.errors import ConfigError
from kbsc.jscc.toy import toy_context
from kbsc.metrics.image import psnr
from kbsc.systems.base import Cell, get_system


def _cell(snr, cbr=0.25, mcs=4, channel="awgn"):
    return Cell(
        system="hevc+ldpc",
        dataset="toy",
        extractor="pp",
        channel=channel,
        csi="perfect",
        snr_db=snr,
        cbr=cbr,
        seed=0,
        mcs=mcs,
    )


@pytest.fixture
def ctx(tmp_path):
    return toy_context(n=20, data_dir=tmp_path)


def test_cliff_and_outcome_fields(ctx):
    sysm = get_system("hevc+ldpc")
    hi = sysm.evaluate(_cell(4.0), ctx)
    lo = sysm.evaluate(_cell(-5.0), ctx)
    ex = hi.extras
    k = _cell(4.0).k(ctx.source_dim)
    assert hi.fingerprint == Bridge("awgn", seed=0).fingerprint(ctx.image_ids, k)
    assert (ex["tb_error"] == 0).all() and (ex["bit_errors"] == 0).all()
    assert (ex["bits"] <= ex["info_bits"]).all() and (ex["sent"] == 1).all()
    assert (ex["channel_uses"] == k).all() and np.isfinite(ex["ms_ssim"]).all()
    assert (lo.extras["tb_error"] == 1).all() and lo.extras["bit_errors"].sum() > 0
    assert hi.correct_top1.mean() >= lo.correct_top1.mean() + 0.3
    # delivered images are the encoder's own reconstruction: PSNR does not depend on the SNR
    hi2 = sysm.evaluate(_cell(10.0), ctx)
    np.testing.assert_allclose(hi2.extras["psnr"], ex["psnr"])


def test_failure_modes(ctx):
    conceal = get_system("hevc+ldpc", failure="conceal").evaluate(_cell(-5.0), ctx)
    miss = get_system("hevc+ldpc", failure="miss").evaluate(_cell(-5.0), ctx)
    assert (miss.retrieved == -1).all()
    # a missed image shows the fallback: its PSNR is that of the fallback image, not left out
    fb = np.broadcast_to(fallback_image(ctx.images.shape[1:], ctx.workspace.train.images), ctx.images.shape)
    np.testing.assert_allclose(miss.extras["psnr"], psnr(ctx.images, fb))
    assert (conceal.retrieved >= 0).all() and np.isfinite(conceal.extras["psnr"]).all()
    assert conceal.fingerprint == miss.fingerprint
    with pytest.raises(ConfigError, match="failure"):
        get_system("hevc+ldpc", failure="drop").evaluate(_cell(0.0), ctx)


def test_image_not_sent_when_nothing_fits(ctx):
    out = get_system("hevc+ldpc").evaluate(_cell(10.0, cbr=1 / 48, mcs=2), ctx)  # TB of a few dozen bits
    assert (out.extras["sent"] == 0).all() and (out.retrieved == -1).all()
    assert np.isnan(out.extras["tb_error"]).all() and (out.extras["info_bits"] == 0).all()
    fb = np.broadcast_to(fallback_image(ctx.images.shape[1:], ctx.workspace.train.images), ctx.images.shape)
    np.testing.assert_allclose(out.extras["psnr"], psnr(ctx.images, fb))  # what the receiver shows


def test_fallback_image_is_training_mean():
    train = np.zeros((4, 2, 2, 3), np.uint8)
    train[..., 0] = 200
    fb = fallback_image((32, 32, 3), train)
    assert fb.shape == (32, 32, 3) and (fb[..., 0] == 200).all() and (fb[..., 1] == 0).all()
    assert (fallback_image((8, 8, 3)) == 128).all()


def test_best_envelope_dominates_each_mcs(ctx):
    cells = [_cell(-1.0, mcs=m) for m in (2, 9)]
    best = get_system("hevc+ldpc-best", mcs_set=[2, 9]).evaluate(_cell(-1.0, mcs=None), ctx)
    for c in cells:
        out = get_system("hevc+ldpc").evaluate(c, ctx)
        assert (best.correct_top1 >= out.correct_top1).all()


def test_repeated_point_uses_the_caches(ctx, monkeypatch):
    first = get_system("hevc+ldpc").evaluate(_cell(2.0), ctx)
    calls = {"encode": 0, "extract": 0}
    real_heif = hevc_mod.HevcCodec._heif

    def counting_heif(self, image, quality):
        calls["encode"] += 1
        return real_heif(self, image, quality)

    real_extract = ctx.extractor.extract

    def counting_extract(images, **kw):
        calls["extract"] += len(images)
        return real_extract(images, **kw)

    monkeypatch.setattr(hevc_mod.HevcCodec, "_heif", counting_heif)
    monkeypatch.setattr(ctx.extractor, "extract", counting_extract)
    again = get_system("hevc+ldpc").evaluate(_cell(2.0), ctx)  # a new system: only the disk caches help
    assert calls["encode"] <= 2  # the parameter-set templates only
    assert calls["extract"] == 0
    np.testing.assert_array_equal(first.retrieved, again.retrieved)
    np.testing.assert_allclose(first.extras["psnr"], again.extras["psnr"])


def test_cache_manifest_mismatch_refused(tmp_path):
    from kbsc.baselines.cache import PayloadStore
    from kbsc.baselines.codecs import get_codec
    from kbsc.errors import DataError
    from kbsc.util import read_manifest, write_manifest

    store = PayloadStore(get_codec("jpeg"), tmp_path)
    m = read_manifest(store.dir)
    m["codec"]["libjpeg"] = "other"
    write_manifest(store.dir, m)
    with pytest.raises(DataError, match="payload cache"):
        PayloadStore(get_codec("jpeg"), tmp_path)


def test_runner_rejects_unknown_options():
    with pytest.raises(ConfigError, match="unknown option"):
        get_system("hevc+ldpc", bogus=1)
    with pytest.raises(ConfigError, match="image codec"):
        BaselineRunner(codec="webp")


def test_cli_prints_grid(tmp_path, capsys):
    """``kbsc baseline`` runs its cells through the experiment runner: here on the toy world's context."""
    from kbsc.cli import main

    rc = main(["baseline", "--dataset", "jscc-toy", "--snr", "-5", "4", "--cbr", "1/4", "--n-images", "20",
               "--failure", "miss", "--data-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("-5", "4"))]
    assert len(rows) == 2
    assert float(rows[0][3]) == 0.0 and float(rows[1][3]) > 0.5  # the cliff: top-1 at -5 dB vs 4 dB
    assert [r[2] for r in rows] == ["768", "768"]  # k = CBR 1/4 of 32·32·3
    assert float(rows[0][6]) == 1.0 and float(rows[1][6]) == 0.0  # BLER over the sent images
    assert "20 images" in out and not list(tmp_path.glob("**/results.parquet"))  # nothing kept
