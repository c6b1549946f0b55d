"""Paper-size pixel JSCC models: the published architectures' parameter counts, the CPU defaults unchanged,
and training refused on a CPU."""

import pytest
import torch

from kbsc.errors import ConfigError
from kbsc.jscc.registry import MODELS
from kbsc.jscc.sizes import parameter_count, size_options
from kbsc.jscc.swin import SwinBlock
from kbsc.jscc.train import JSCCTrainConfig, TrainImages, build_model, train_model


def _swin_block(c: int, heads: int, window: int, mlp: int = 4) -> int:
    """One Swin block: 2 LayerNorms, qkv and output projections, relative-position bias table, MLP."""
    return (
        4 * c
        + (3 * c * c + 3 * c)
        + (c * c + c)
        + (2 * window - 1) ** 2 * heads
        + 2 * mlp * c * c
        + mlp * c
        + c
    )


def test_paper_swinjscc_has_the_authors_cifar10_swin_blocks():
    net = MODELS.get("swinjscc")(k=None, **size_options("swinjscc", {"size": "paper", "latent_channels": 48}))
    blocks = sum(p.numel() for m in net.modules() if isinstance(m, SwinBlock) for p in m.parameters())
    # SwinJSCC CIFAR-10: dims 128/256, depths 2/4 (mirrored in the decoder), heads 4/8, window 2
    enc = 2 * _swin_block(128, 4, 2) + 4 * _swin_block(256, 8, 2)
    assert blocks == 2 * enc == 7_111_888
    assert parameter_count("swinjscc") == 7_548_812
    assert (
        parameter_count("swinjscc", "cpu") == 204_788
    )  # the CPU default, as documented in kbsc.jscc.swinjscc


def test_paper_adjscc_has_the_authors_convolutions():
    c = 16  # latent channels at k = 512
    net = MODELS.get("deepjscc-adaptive")(k=512, **size_options("deepjscc-adaptive", {"size": "paper"}))
    convs = sum(
        p.numel()
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)
        for p in m.parameters()
    )
    hidden = 256 * 256 * 25 + 256
    authors = (3 * 256 * 81 + 256) + 3 * hidden + (256 * c * 25 + c)  # encoder: 9×9, then 5×5
    authors += (c * 256 * 25 + 256) + 3 * hidden + (256 * 3 * 81 + 3)  # decoder: mirrored
    assert convs == authors + c * 256 * 25  # + our decoder's noise-variance map (c more input channels)
    assert convs > 10_000_000 and parameter_count("deepjscc-adaptive") == 11_320_851
    x = torch.rand(2, 3, 32, 32)
    y = net.encode(x, torch.zeros(2), 512)
    assert net.decode(y, torch.full(y.shape, 0.1), torch.zeros(2), 512).shape == x.shape


def test_cpu_defaults_are_unchanged_and_explicit_options_win():
    for name in ("swinjscc", "deepjscc-adaptive", "deepjscc"):
        cfg = JSCCTrainConfig(model=name, k=384, setting="reference").resolved()
        sized = JSCCTrainConfig(
            model=name, k=384, setting="reference", model_options={"size": "cpu"}
        ).resolved()
        a, b = build_model(cfg), build_model(sized)
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert size_options("swinjscc", {"size": "paper", "window": 4})["window"] == 4
    with pytest.raises(ConfigError, match="no size 'huge'"):
        size_options("swinjscc", {"size": "huge"})


def test_a_paper_size_model_is_not_trained_on_the_cpu(tmp_path):
    data = TrainImages(torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8).numpy(), list(range(40)))
    cfg = JSCCTrainConfig(model="swinjscc", setting="gpu", model_options={"size": "paper"})
    assert cfg.resolved().batch_size == 128 and cfg.resolved().schedule == "plateau"
    from kbsc.util.device import using_device

    with using_device("cpu"), pytest.raises(ConfigError, match="trains on a GPU only"):
        train_model(cfg, data, tmp_path, show_progress=False)
    assert not any(tmp_path.rglob("*.pt"))
