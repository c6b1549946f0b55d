"""Device threading without a GPU: every learned family's encoder → training channel → decoder → loss →
backward runs with the model and inputs on the ``meta`` device (a tensor created on the CPU by mistake then
raises), and weights saved on one device load onto another."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from kbsc.bridge.training_keys import open_bridge
from kbsc.jscc import DeepJSCC, DeepJSCCAdaptive, SwinJSCC
from kbsc.jscc.channel import LocalAWGN
from kbsc.jscc.losses import LOSSES
from kbsc.jscc.system import model_runner
from kbsc.semantic.codec import CODECS
from kbsc.semantic.train import _info_nce
from kbsc.semantic.transmit import transmit
from kbsc.training import Budget, TrainTask, run_training
from kbsc.training.store import save_finished
from kbsc.util.device import module_device, state_dict_to_cpu, using_device

META = torch.device("meta")
JSCC = {
    "deepjscc": lambda k: DeepJSCC(k=k, width=8),
    "deepjscc-spectral": lambda k: DeepJSCC(k=k, width=8, linear_path="spectral"),
    "deepjscc-adaptive": lambda k: DeepJSCCAdaptive(k=k, width=8),
    "swinjscc": lambda k: SwinJSCC(k=k, c1=8, c2=16, latent_channels=8, heads=(1, 2)),
}
CHANNELS = {
    "local-awgn": lambda: LocalAWGN(5),
    "bridge-rayleigh-ls": lambda: open_bridge("rayleigh", "ls-linear", 2**30 + 5),
}


def _on_meta(model: torch.nn.Module) -> torch.nn.Module:
    model = model.to(META)
    assert module_device(model) == META
    return model


def _grads_on_meta(model: torch.nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.device == META for g in grads)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("name", sorted(JSCC))
def test_jscc_forward_backward_on_meta(name, channel):
    torch.manual_seed(0)
    k = 96
    model = JSCC[name](k)
    model.fit_statistics(np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    model = _on_meta(model).train()
    x = torch.rand(4, 3, 32, 32, device=META)
    snr = torch.tensor([0.0, 3.0, 6.0, 9.0])  # the trainer's batches keep SNRs and ids on the host
    with using_device(META):
        xh = model(x, snr, k, CHANNELS[channel](), torch.arange(4))
        assert xh.device == META and xh.shape == x.shape
        for loss in ("mse", "ms-ssim"):
            model.zero_grad()
            LOSSES.get(loss)(
                xh if loss == "mse" else model(x, snr, k, CHANNELS[channel](), torch.arange(4)), x
            ).backward()
            _grads_on_meta(model)


@pytest.mark.parametrize("name", sorted(JSCC))
def test_jscc_inference_runner_on_meta_keeps_the_channel_on_the_host(name):
    model = _on_meta(JSCC[name](64)).eval()
    enc, _ = model_runner(model, precision="fp32")
    x = enc(np.zeros((2, 32, 32, 3), np.uint8), 5.0, 64)
    assert x.device == META and x.dtype == torch.complex64 and x.shape == (2, 64)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("variant", ["kbsc", "kbsc-snr", "kbsc-no-codec"])
def test_kbsc_codec_forward_backward_on_meta(variant, channel):
    torch.manual_seed(0)
    k = 300 if variant == "kbsc-no-codec" else 32  # > 256: the no-codec's repetition path
    codec = CODECS.get(variant)(k)
    if any(True for _ in codec.parameters()):
        codec = _on_meta(codec).train()
    f = torch.nn.functional.normalize(torch.randn(6, 512), dim=1).to(META)
    f_hat = transmit(codec, CHANNELS[channel](), f, torch.arange(6), 4.0)
    assert f_hat.shape == (6, 512)
    assert f_hat.device == META  # a weight-free codec runs where its inputs are
    if variant != "kbsc-no-codec":
        loss = torch.nn.functional.mse_loss(f_hat, f) + 0.1 * _info_nce(f_hat, f, 0.1)
        loss.backward()
        _grads_on_meta(codec)


def _tiny_task():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)

    def batches(start):
        for step in itertools.count(start):
            g = torch.Generator().manual_seed(step)
            x = torch.randn(8, 4, generator=g)
            yield x, x.sum(1, keepdim=True)

    def loss(batch, step):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y)

    def validate():
        return {"m": -float(model.weight.sum())}

    return TrainTask(
        model, lambda m: torch.optim.Adam(m.parameters(), 1e-2), loss, batches, validate, "m"
    ), model


def test_checkpoints_hold_host_tensors_and_load_onto_another_device(tmp_path):
    task, model = _tiny_task()
    ckpt = tmp_path / "resume.pt"
    run_training(task, Budget(max_steps=6, eval_every=3, patience=5), checkpoint=ckpt, stop_after=3,
                 show_progress=False)  # fmt: skip
    blob = torch.load(ckpt, weights_only=True)  # no map_location: every tensor must be a host tensor
    tensors = [t for t in _leaves(blob) if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    save_finished(tmp_path, {"n": 1}, model.state_dict(), {"kind": "test"}, run_training(
        task, Budget(max_steps=6, eval_every=3, patience=5), show_progress=False))  # fmt: skip
    stored = torch.load(tmp_path / "model.pt", weights_only=True)["state"]
    assert all(t.device.type == "cpu" for t in stored.values())
    other = torch.nn.Linear(4, 1, device=META)  # "another device": the weights go wherever the model is
    other.load_state_dict(torch.load(tmp_path / "model.pt", map_location=META, weights_only=True)["state"])
    assert module_device(other) == META
    back = torch.nn.Linear(4, 1)
    back.load_state_dict(state_dict_to_cpu(model.state_dict()))
    assert torch.equal(back.weight, model.weight)


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def test_standin_training_and_extraction_on_meta():
    from test_features_standin import TINY, stripes

    from kbsc.features.standin import StandinConfig, StandinExtractor, _StandinTraining

    cfg = StandinConfig.from_options(**TINY)
    with using_device(META):
        job = _StandinTraining(stripes(8, seed=1), cfg, 0)
        task = job.task()
        x, y = next(task.batches(0))
        assert x.device == META and y.device == META
        task.loss((x, y), 0).backward()
        _grads_on_meta(job.net)
        _grads_on_meta(job.head)
        ext = StandinExtractor(cfg.build(), cfg)
        assert module_device(ext.net) == META
        assert ext._embed(np.zeros((2, 32, 32, 3), np.uint8)).device == META


class _Clip224(torch.nn.Module):
    """A CLIP-like TorchScript model without an ``input_resolution`` buffer (224, no .item() on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = torch.nn.Conv2d(3, 4, 224, stride=224)
        self.proj = torch.nn.Linear(4, 512)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.patch(x.to(self.patch.weight.dtype)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x)


def test_clip_routes_load_onto_the_device(tmp_path):
    from kbsc.features.clip import load_clip

    example = torch.zeros(1, 3, 224, 224)
    traced = torch.jit.trace_module(_Clip224().eval(), {"encode_image": example, "forward": example})
    torch.jit.save(traced, str(tmp_path / "ViT-B-32.pt"))
    routes = [tmp_path / "ViT-B-32.pt"]
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=64, patch_size=32,
                                        projection_dim=512)  # fmt: skip
    transformers.CLIPVisionModelWithProjection(cfg).save_pretrained(tmp_path / "hf")
    routes.append(tmp_path / "hf")
    for path in routes:
        with using_device(META):
            ext = load_clip(path)
        assert ext.device == META
        assert ext._embed(np.zeros((2, 32, 32, 3), np.uint8)).device == META


def test_trained_model_manifest_and_run_provenance_record_the_device(tmp_path):
    from kbsc.experiments.provenance import provenance
    from kbsc.training.store import train_or_load
    from kbsc.util import read_manifest

    task, model = _tiny_task()

    class _Job:
        def __init__(self):
            self.model = model

        def task(self):
            return task

    with using_device("cpu"):
        got, *_ = train_or_load(tmp_path / "m", {"kind": "t"}, {}, lambda p: model, _Job,
                                Budget(max_steps=3, eval_every=3, patience=2), threads=1,
                                show_progress=False)  # fmt: skip
    dev = read_manifest(tmp_path / "m")["device"]
    assert dev["type"] == "cpu" and dev["torch"] == torch.__version__ and "deterministic_algorithms" in dev
    assert provenance()["device"]["torch"] == torch.__version__
