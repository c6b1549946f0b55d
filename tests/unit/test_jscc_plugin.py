"""Outside models: the plug-in system equals the model run by hand on the same realizations; the importer
round trip joins the same outcomes; protocol violations are one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from kbsc.errors import ConfigError, DataError
from kbsc.jscc.base import power_normalize
from kbsc.jscc.channel import LocalAWGN
from kbsc.jscc.metrics import psnr
from kbsc.jscc.plugin import import_outcomes, load_plugin
from kbsc.jscc.system import ImportedSystem, PluginSystem
from kbsc.jscc.toy import toy_context, toy_images
from kbsc.systems.base import Cell

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_model.py"
SPEC = f"{EXAMPLE}:SoftCastJSCC"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    example = load_plugin_module()
    train, _ = toy_images(300, seed=9)
    return example.fit_checkpoint(train, tmp_path_factory.mktemp("ck") / "softcast.npz")


def load_plugin_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("plugin_example_under_test", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cell(snr=4.0, cbr=1 / 8, seed=3, system="plugin"):
    return Cell(
        system=system,
        dataset="jscc-toy",
        extractor="pooled-pixels",
        channel="local-awgn",
        csi="perfect",
        snr_db=snr,
        cbr=cbr,
        seed=seed,
    )


def by_hand(ckpt, ctx, c):
    """The outside model run directly: encode, unit power, the keyed channel, decode, extractor, KB."""
    model = load_plugin_module().SoftCastJSCC(ckpt)
    k = c.k(ctx.source_dim)
    x = model.encode(ctx.images, c.snr_db, k)
    x = power_normalize(torch.from_numpy(x.astype(np.complex64)))  # the documented unit-power step
    ch = LocalAWGN(c.seed)
    out = ch.transmit(x, ctx.image_ids, c.snr_db)
    images = model.decode(out.y.numpy(), out.noise_var.numpy(), c.snr_db)
    retrieved = ctx.kb.retrieve_labels(ctx.extractor.extract(images), k=5)
    return images, retrieved, ch.fingerprint(ctx.image_ids, k)


def test_plugin_system_matches_the_model_run_directly(checkpoint):
    ctx = toy_context(40)
    c = cell()
    sys_ = PluginSystem(module=SPEC, checkpoint=str(checkpoint), batch=16)
    sys_.prepare(ctx, [c])
    got = sys_.evaluate(c, ctx)
    images, retrieved, fp = by_hand(checkpoint, ctx, c)
    np.testing.assert_array_equal(got.retrieved, retrieved)
    np.testing.assert_allclose(got.extras["psnr"], psnr(ctx.images, images))
    assert got.fingerprint == fp and got.extras["channel_uses"].tolist() == [384] * 40
    assert got.correct_top1.mean() > 0.5  # SoftCast at 4 dB, CBR 1/8 keeps these easy classes


def test_softcast_quality_rises_with_snr_and_cbr(checkpoint):
    ctx = toy_context(30)
    sys_ = PluginSystem(module=SPEC, checkpoint=str(checkpoint))
    by_snr = [sys_.evaluate(cell(snr=s), ctx).extras["psnr"].mean() for s in (-5, 5, 15)]
    by_cbr = [sys_.evaluate(cell(cbr=r), ctx).extras["psnr"].mean() for r in (1 / 48, 1 / 8, 1 / 2)]
    assert by_snr[0] + 1 < by_snr[1] and by_snr[1] + 1 < by_snr[2], by_snr
    assert by_cbr[0] + 0.5 < by_cbr[1] and by_cbr[1] + 0.5 < by_cbr[2], by_cbr


@pytest.mark.parametrize("kind", ["images", "retrieved"])
def test_import_round_trip_joins_the_same_outcomes(checkpoint, tmp_path, kind):
    ctx = toy_context(24)
    c = cell(snr=0.0)
    direct = PluginSystem(module=SPEC, checkpoint=str(checkpoint)).evaluate(c, ctx)
    images, retrieved, fp = by_hand(checkpoint, ctx, c)
    order = np.random.default_rng(0).permutation(24)  # the outside tool may write any order
    payload = {"image_ids": ctx.image_ids[order], "fingerprint": np.array(fp)}
    payload[kind] = (images if kind == "images" else retrieved)[order]
    path = tmp_path / f"{c.channel}-{c.csi}-snr{c.snr_db:g}-cbr{c.cbr:.6g}-s{c.seed}.npz"
    np.savez(path, **payload)
    template = str(tmp_path / "{channel}-{csi}-snr{snr_db:g}-cbr{cbr:.6g}-s{seed}.npz")
    imported = ImportedSystem(outcomes=template).evaluate(cell(snr=0.0, system="jscc-import"), ctx)
    np.testing.assert_array_equal(imported.image_ids, direct.image_ids)
    np.testing.assert_array_equal(imported.retrieved, direct.retrieved)
    assert imported.fingerprint == direct.fingerprint
    assert imported.extras["channel_uses"].tolist() == [384] * 24
    if kind == "images":
        np.testing.assert_allclose(imported.extras["psnr"], direct.extras["psnr"])
    with pytest.raises(DataError, match="other realizations"):
        import_outcomes(path, ctx, fingerprint="0" * 16)
    np.savez(path, image_ids=ctx.image_ids[:5], images=images[:5])
    with pytest.raises(DataError, match="lacks 19 of the cell's 24"):
        import_outcomes(path, ctx)


def test_protocol_violations_are_one_line_errors(tmp_path, checkpoint):
    bad = tmp_path / "bad_models.py"
    bad.write_text(
        textwrap.dedent("""
        import numpy as np
        class NoDecode:
            def __init__(self, checkpoint=None): pass
            def encode(self, images, snr_db, k): return np.ones((len(images), k), np.complex64)
        class WrongShape(NoDecode):
            def encode(self, images, snr_db, k): return np.ones((len(images), k + 1), np.complex64)
            def decode(self, y, nv, snr_db): return np.zeros((len(y), 32, 32, 3), np.uint8)
        class NoCheckpointArg:
            def __init__(self): pass
            def encode(self, images, snr_db, k): pass
            def decode(self, y, nv, snr_db): pass
    """)
    )
    with pytest.raises(ConfigError, match="must look like"):
        load_plugin("just_a_module")
    with pytest.raises(ConfigError, match="not found"):
        load_plugin("kbsc_no_such_module_xyz:Model")
    with pytest.raises(ConfigError, match="has no attribute 'Nope'"):
        load_plugin(f"{bad}:Nope")
    with pytest.raises(ConfigError, match="lacks method"):
        load_plugin(f"{bad}:NoDecode")
    with pytest.raises(ConfigError, match="cannot be built"):
        load_plugin(f"{bad}:NoCheckpointArg")
    with pytest.raises(ConfigError, match="checkpoint .* not found"):
        load_plugin(SPEC, str(tmp_path / "missing.npz"))
    model = load_plugin(f"{bad}:WrongShape")
    with pytest.raises(DataError, match=r"encode must return complex symbols of shape \(2, 8\)"):
        model.encode(np.zeros((2, 32, 32, 3), np.uint8), 0.0, 8)
    with pytest.raises(ConfigError, match="needs options.module"):
        PluginSystem(checkpoint="x")


def _big_header_npz(path):
    """An .npz whose member header declares shape (2**45,) uint8 over a few bytes of data."""
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (2**45,)})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("image_ids.npy", buf.getvalue() + b"\0" * 16)  # the header writer adds the magic
        zf.writestr("retrieved.npy", _npy_bytes(np.zeros(3, np.int64)))


def _npy_bytes(arr):
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["string ids", "wrong-length channel_uses", "2**45 header"])
def test_bad_import_files_are_one_line_data_errors(tmp_path, kind):
    import resource

    ctx = toy_context(6)
    path = tmp_path / "out.npz"
    if kind == "string ids":
        np.savez(path, image_ids=np.array(["a", "b"]), retrieved=np.zeros(2, np.int64))
    elif kind == "wrong-length channel_uses":
        np.savez(
            path, image_ids=ctx.image_ids, retrieved=np.zeros(6, np.int64), channel_uses=np.ones(2, np.int64)
        )
    else:
        _big_header_npz(path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError) as err:
        import_outcomes(path, ctx)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024
