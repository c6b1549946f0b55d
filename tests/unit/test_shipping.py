"""Shipping a data directory to a worker node: files arrive intact, a tampered bundle is refused."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import pytest

from kbsc.errors import DataError
from kbsc.experiments.shipping import DataBundle, pack_data_dir, unpack_data_dir


def _tree(root):
    (root / "kb" / "x").mkdir(parents=True)
    (root / "kb" / "x" / "index.faiss").write_bytes(bytes(range(256)) * 10)
    (root / "models.pt").write_bytes(b"weights")
    (root / "kb" / "x.lock").write_text("")  # not shipped
    (root / "a.json.tmp").write_text("{}")  # not shipped
    return root


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_round_trip_keeps_content_and_skips_locks(tmp_path):
    src = _tree(tmp_path / "head")
    b = pack_data_dir(src)
    assert sorted(b.manifest) == ["kb/x/index.faiss", "models.pt"]
    dst = tmp_path / "node"
    assert unpack_data_dir(b, dst) == 2
    got = {k: v for k, v in _files(dst).items() if not k.startswith(".shipped")}
    want = {k: v for k, v in _files(src).items() if k in b.manifest}
    assert got == want
    assert unpack_data_dir(b, dst) == 0  # once per node
    # a node that already holds a file with the same content keeps it; a different one is replaced
    other = tmp_path / "node2"
    (other).mkdir()
    (other / "models.pt").write_bytes(b"stale")
    assert unpack_data_dir(b, other) == 2
    assert (other / "models.pt").read_bytes() == b"weights"


def _retar(bundle: DataBundle, name: str, data: bytes) -> DataBundle:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return dataclasses.replace(bundle, blob=buf.getvalue())


def test_tampered_content_unlisted_and_unsafe_paths_are_refused(tmp_path):
    src = tmp_path / "head"
    src.mkdir()
    (src / "models.pt").write_bytes(b"weights")
    b = pack_data_dir(src)
    with pytest.raises(DataError, match="does not match its manifest"):
        unpack_data_dir(_retar(b, "models.pt", b"evil!!!"), tmp_path / "n1")
    assert not (tmp_path / "n1" / "models.pt").exists()
    with pytest.raises(DataError, match="does not list"):
        unpack_data_dir(_retar(b, "other.pt", b"weights"), tmp_path / "n2")
    with pytest.raises(DataError, match="unsafe path"):
        unpack_data_dir(_retar(b, "../escape.pt", b"weights"), tmp_path / "n3")
    with pytest.raises(DataError, match="digest"):
        unpack_data_dir(dataclasses.replace(b, manifest={"models.pt": "0" * 64}), tmp_path / "n4")
    with pytest.raises(DataError, match="lacks"):
        unpack_data_dir(dataclasses.replace(b, blob=_empty_tar()), tmp_path / "n5")


def _empty_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    return buf.getvalue()


def test_paths_outside_the_data_dir_travel_and_are_remapped(tmp_path):
    src = _tree(tmp_path / "head")
    ds = tmp_path / "cifar-100-python"
    ds.mkdir()
    (ds / "train").write_bytes(b"T" * 100)
    ck = tmp_path / "ViT-B-32.pt"
    ck.write_bytes(b"CK")
    b = pack_data_dir(src, {"dataset_root": str(ds), "checkpoint": str(ck), "none": None})
    assert b.paths == {
        "dataset_root": "_external/dataset_root/cifar-100-python",
        "checkpoint": "_external/checkpoint/ViT-B-32.pt",
    }
    dst = tmp_path / "node"
    unpack_data_dir(b, dst)
    assert (dst / b.paths["dataset_root"] / "train").read_bytes() == b"T" * 100
    assert (dst / b.paths["checkpoint"]).read_bytes() == b"CK"
    inside = pack_data_dir(src, {"checkpoint": str(src / "models.pt")})
    assert inside.paths == {"checkpoint": "models.pt"}
    with pytest.raises(DataError, match="does not exist"):
        pack_data_dir(src, {"dataset_root": str(tmp_path / "missing")})


def test_shipped_worker_reads_its_own_node_dir(tmp_path, monkeypatch):
    from kbsc.experiments.context import ContextSpec
    from kbsc.experiments.grid import Plan
    from kbsc.experiments.shipping import ShippedCellWorker

    src = _tree(tmp_path / "head")
    ds = tmp_path / "folder"
    ds.mkdir()
    (ds / "img.png").write_bytes(b"png")
    spec = ContextSpec(dataset="toy", extractor="none", n_images=4, data_dir=str(src), dataset_root=str(ds))
    plan = Plan(plugins=[], context=spec, systems={})
    bundle = pack_data_dir(src, {"dataset_root": str(ds), "checkpoint": None})
    monkeypatch.setenv("KBSC_DATA", str(tmp_path / "node"))
    w = ShippedCellWorker(plan, bundle, threads=None)
    ctx = w._worker.plan.context
    assert ctx.data_dir == str(tmp_path / "node")
    assert ctx.dataset_root == str(tmp_path / "node" / "_external" / "dataset_root" / "folder")
    assert ctx.identity() == spec.identity() | {"dataset_root": ctx.dataset_root}
    assert w.info()["files_written"] == 3


def test_the_reference_store_travels_and_the_node_reads_its_copy(tmp_path, monkeypatch):
    from kbsc.experiments.context import ContextSpec
    from kbsc.experiments.grid import Plan
    from kbsc.experiments.shipping import ShippedCellWorker
    from kbsc.training.reference import store_root

    src = _tree(tmp_path / "head")
    store = tmp_path / "models" / "jscc" / "m"
    store.mkdir(parents=True)
    (store / "model.pt").write_bytes(b"weights")
    spec = ContextSpec(dataset="toy", extractor="none", n_images=4, data_dir=str(src))
    bundle = pack_data_dir(src, {"models": str(tmp_path / "models")})
    monkeypatch.setenv("KBSC_DATA", str(tmp_path / "node"))
    monkeypatch.setenv("KBSC_MODELS", "")
    w = ShippedCellWorker(Plan(plugins=[], context=spec, systems={}), bundle, threads=None)
    copy = tmp_path / "node" / "_external" / "models" / "models"
    assert store_root() == copy and (copy / "jscc" / "m" / "model.pt").read_bytes() == b"weights"
    assert w._worker.plan.context.identity() == spec.identity()
