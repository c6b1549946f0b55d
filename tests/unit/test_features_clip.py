"""CLIP extractor: preprocessing, the TorchScript and Hugging Face routes on fabricated models, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from kbsc.errors import DataError
from kbsc.features import CLIP_MEAN, CLIP_STD, clip_preprocess, get_extractor, load_clip
from kbsc.features.clip_preprocess import clip_preprocess_one

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)


def test_preprocess_matches_direct_pil_and_constants():
    # Non-square image: shorter side (height 32) → 224, width 48 → 336, centre crop starts at column 56.
    img = RNG.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    ref = Image.fromarray(img).resize((336, 224), Image.Resampling.BICUBIC).crop((56, 0, 280, 224))
    ref = (np.asarray(ref, np.float32) / 255.0 - np.float32(CLIP_MEAN)) / np.float32(CLIP_STD)
    out = clip_preprocess_one(img, 224)
    assert out.shape == (3, 224, 224)
    np.testing.assert_allclose(out, ref.transpose(2, 0, 1), atol=1e-6)
    # A flat colour stays flat through bicubic resizing: value = (c/255 - mean)/std exactly.
    flat = np.full((2, 32, 32, 3), (10, 128, 250), np.uint8)
    x = clip_preprocess(flat, 224)
    expect = (np.array([10, 128, 250]) / 255.0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), expect, atol=1e-5)
    assert float(x.std(dim=(2, 3)).max()) < 1e-5


class TinyClip(nn.Module):
    """A fabricated CLIP-like model: the same encode_image entry point, input resolution 64."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 32, stride=32)
        self.proj = nn.Linear(16 * 4, 512)
        self.register_buffer("input_resolution", torch.tensor(64))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.patch.weight.dtype)  # traced as a constant dtype, like OpenAI's archive
        zeros = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return self.proj(self.patch(x).flatten(1)) + zeros

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x)


def _reference(model: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        f = model.float().encode_image(clip_preprocess(images, 64))
    return torch.nn.functional.normalize(f, dim=1).numpy()


@pytest.mark.parametrize("half", [False, True])
def test_torchscript_route(tmp_path, half):
    torch.manual_seed(0)
    model = TinyClip().eval()
    example = torch.zeros(1, 3, 64, 64)
    if half:  # traced in float16 like the original ViT-B-32.pt; the loader must run it in float32
        model = model.half()
        example = example.half()
    traced = torch.jit.trace_module(model, {"encode_image": example, "forward": example})
    path = tmp_path / "ViT-B-32.pt"
    torch.jit.save(traced, str(path))
    ext = get_extractor("clip-vit-b32", tmp_path, checkpoint=path, show_progress=False)
    assert ext.resolution == 64
    feats = ext.extract(IMAGES, batch_size=2, show_progress=False)
    assert feats.shape == (5, 512) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(feats, _reference(model, IMAGES), atol=1e-5)
    again = load_clip(path)
    np.testing.assert_array_equal(again.extract(IMAGES, batch_size=2, show_progress=False), feats)
    assert again.fingerprint == ext.fingerprint


def test_huggingface_route(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=64,
        patch_size=32,
        projection_dim=512,
    )
    model = transformers.CLIPVisionModelWithProjection(cfg).eval()
    folder = tmp_path / "clip-vit-base-patch32"
    model.save_pretrained(folder)
    # Found without --checkpoint under DATA_DIR/checkpoints/.
    (tmp_path / "checkpoints").mkdir()
    folder.rename(tmp_path / "checkpoints" / folder.name)
    ext = get_extractor("clip-vit-b32", tmp_path, show_progress=False)
    assert ext.kind == "huggingface" and ext.resolution == 64
    feats = ext.extract(IMAGES, batch_size=3, show_progress=False)
    with torch.no_grad():
        ref = model(pixel_values=clip_preprocess(IMAGES, 64)).image_embeds
    np.testing.assert_allclose(feats, torch.nn.functional.normalize(ref, dim=1).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(ext.extract(IMAGES, batch_size=3, show_progress=False), feats)


def test_clip_errors(tmp_path):
    with pytest.raises(DataError, match="needs a local checkpoint.*--checkpoint"):
        get_extractor("clip-vit-b32", tmp_path)
    with pytest.raises(DataError, match="not found"):
        get_extractor("clip-vit-b32", tmp_path, checkpoint=tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(DataError, match="not a TorchScript archive"):
        get_extractor("clip-vit-b32", tmp_path, checkpoint=junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no config.json"):
        get_extractor("clip-vit-b32", tmp_path, checkpoint=empty)
    # A TorchScript archive that is not CLIP (no encode_image).
    other = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(other))
    with pytest.raises(DataError, match="without encode_image"):
        get_extractor("clip-vit-b32", tmp_path, checkpoint=other)


def test_full_clip_folder_reports_unused_text_tower_in_one_line(tmp_path, capfd, monkeypatch):
    transformers = pytest.importorskip("transformers")
    from kbsc.features.clip import load_huggingface

    monkeypatch.delenv("KBSC_QUIET", raising=False)
    torch.manual_seed(0)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                  image_size=64, patch_size=32)  # fmt: skip
    text = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2)
    cfg = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=512)
    transformers.CLIPModel(cfg).eval().save_pretrained(tmp_path / "full")
    capfd.readouterr()
    ext = load_huggingface(tmp_path / "full")
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert ext.kind == "huggingface"
    assert len(err) == 1 and "of the text tower" in err[0] and err[0].startswith("kbsc: note:"), err
