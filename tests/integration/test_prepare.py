"""``kbsc prepare`` / ``kbsc info`` end to end on a small fabricated CIFAR-format dataset, tiny stand-in."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from kbsc.cli import main
from kbsc.data.base import ImageSet
from kbsc.data.cifar_format import write_cifar_folder

TINY = ["--extractor-opt", "max_steps=44", "--extractor-opt", "eval_every=11", "--extractor-opt", "width=8",
        "--extractor-opt", "batch_size=32", "--extractor-opt", "threads=1",
        "--extractor-opt", "strides=2,1,2,2"]  # fmt: skip


def stripes(n_per_class: int, seed: int, name: str) -> ImageSet:
    """6 classes (stripe direction × thickness) in 2 coarse groups; random colours, phase, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    directions = [yy, xx, yy + xx]
    images, labels = [], []
    for cls in range(6):
        direction, period = directions[cls % 3], (4.0, 9.0)[cls // 3]
        for _ in range(n_per_class):
            wave = (np.sin(2 * np.pi * (direction + rng.uniform(0, 9)) / period) > 0)[..., None]
            img = np.where(wave, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)) + rng.normal(
                0, 15, (32, 32, 3)
            )
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(cls)
    labels = np.array(labels, np.int64)
    names = ["h-thin", "v-thin", "d-thin", "h-wide", "v-wide", "d-wide"]
    return ImageSet(np.stack(images), labels, names, name, coarse=labels // 3)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar") / "cifar-100-python"
    write_cifar_folder(
        root, {"train": stripes(60, 1, "train"), "test": stripes(20, 2, "test")}, ["thin", "wide"]
    )
    return root


def _accuracies(text: str) -> tuple[float, float]:
    m = re.search(r"top-1 ([\d.]+) % \[[\d.]+, [\d.]+\]\s+top-5 ([\d.]+) % \[[\d.]+, [\d.]+\]", text)
    assert m, text
    return float(m.group(1)), float(m.group(2))


def test_prepare_end_to_end_then_cached(tmp_path, cifar_root, capsys):
    data = tmp_path / "data"
    argv = [
        "prepare",
        "--dataset",
        "cifar100",
        "--dataset-root",
        str(cifar_root),
        "--data-dir",
        str(data),
        *TINY,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    top1, top5 = _accuracies(out)
    assert top1 > 50.0 and top5 >= top1  # 6 classes: chance is 16.7 %
    assert "60 sender images" in out and "60 in the knowledge base" in out
    weights = list((data / "extractors").glob("standin-*/weights.pt"))
    assert len(weights) == 1 and len(list((data / "features").glob("*.npy"))) == 2
    (kb_dir,) = (data / "kb").iterdir()
    assert kb_dir.name.startswith("cifar100-standin-") and kb_dir.name.endswith("-split0-flat")
    stamp = {
        p: p.stat().st_mtime_ns
        for p in [*weights, *(data / "features").glob("*.npy"), kb_dir / "index.faiss"]
    }

    # Second run: everything from the caches, same numbers.
    assert main(argv) == 0
    assert _accuracies(capsys.readouterr().out) == (top1, top5)
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())

    # Another split seed is another knowledge base.
    assert main([*argv, "--split-seed", "1"]) == 0
    capsys.readouterr()
    assert len(list((data / "kb").iterdir())) == 2

    assert main(["info", "--data-dir", str(data)]) == 0
    info = capsys.readouterr().out
    for area in ("extractors/", "features/", "kb/"):
        assert area in info
    assert "split_seed=1" in info and "trained in" in info and "no manifest" not in info


def test_prepare_refuses_mismatched_kb_until_forced(tmp_path, cifar_root, capsys):
    data = tmp_path / "data"
    argv = [
        "prepare",
        "--dataset",
        "cifar100",
        "--dataset-root",
        str(cifar_root),
        "--data-dir",
        str(data),
        *TINY,
    ]
    assert main(argv) == 0
    capsys.readouterr()
    (kb_dir,) = (data / "kb").iterdir()
    manifest = json.loads((kb_dir / "manifest.json").read_text())
    manifest["dataset_fingerprint"] = "0" * 24  # as if built from other images
    (kb_dir / "manifest.json").write_text(json.dumps(manifest))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbsc: error: knowledge base") and "dataset_fingerprint" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert main(argv) == 0


def test_prepare_errors(tmp_path, cifar_root, capsys):
    data = str(tmp_path / "data")
    base = ["prepare", "--dataset", "cifar100", "--dataset-root", str(cifar_root), "--data-dir", data]
    assert main([*base, "--extractor", "clip-vit-b32", "--checkpoint", str(tmp_path / "ViT-B-32.pt")]) == 2
    err = capsys.readouterr().err
    assert "ViT-B-32.pt not found" in err and "--checkpoint" in err
    assert main([*base, "--extractor", "clip-vit-b32"]) == 2
    assert "needs a local checkpoint" in capsys.readouterr().err
    assert main([*base, "--extractor-opt", "max_steps"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main([*base, "--extractor", "resnet"]) == 2
    assert "unknown feature extractor 'resnet'" in capsys.readouterr().err
