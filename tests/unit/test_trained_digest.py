"""Models trained into the data directory carry a digest of their weights, verified on load (docs/design.md
§7): altered weights are never used (one warning line, trained again to the same weights), and a damaged
resumable checkpoint is reported, not silently dropped."""

from __future__ import annotations

import itertools
import json

import torch

from kbsc.training.loop import Budget, TrainTask
from kbsc.training.store import RESUME_NAME, train_or_load
from kbsc.util.signed import sign, verified

EXPECTED = {"kind": "toy", "version": 1}
CONFIG = {"width": 3}


class _Job:
    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 1)

    def task(self) -> TrainTask:
        x = torch.linspace(-1, 1, 24).reshape(8, 3)
        y = x.sum(dim=1, keepdim=True)

        def batches(start: int):
            return itertools.repeat((x, y))

        return TrainTask(
            model=self.model,
            make_optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.1),
            loss=lambda b, step: torch.nn.functional.mse_loss(self.model(b[0]), b[1]),
            batches=batches,
            validate=lambda: {"neg_mse": -float(torch.nn.functional.mse_loss(self.model(x), y))},
            metric="neg_mse",
        )


def _load(path):
    blob = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    m = torch.nn.Linear(3, 1)
    m.load_state_dict(blob["state"])
    return m


def _train(path, **kw):
    budget = Budget(max_steps=20, eval_every=5, patience=2)
    return train_or_load(path, EXPECTED, CONFIG, _load, _Job, budget, threads=1, show_progress=False, **kw)


def _weights(model) -> list[float]:
    return [float(v) for p in model.state_dict().values() for v in p.flatten()]


def test_tampered_weights_are_not_used_and_are_retrained(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KBSC_MODELS", "")  # no reference store
    path = tmp_path / "toy-model"
    clean, report, cached, _ = _train(path)
    assert not cached
    manifest = json.loads((path / "manifest.json").read_text())
    assert len(manifest["weights_sha256"]) == 64
    _, _, cached, _ = _train(path)
    assert cached  # intact: loaded
    capsys.readouterr()

    data = bytearray((path / "model.pt").read_bytes())
    data[-200:-136] = bytes(64)  # 64 bytes inside the last tensor's storage
    (path / "model.pt").write_bytes(bytes(data))
    model, report2, cached, _ = _train(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert not cached, "a model whose weights fail the digest was used"
    assert len(err) == 1 and err[0].startswith("kbsc: warning: ") and "does not match the digest" in err[0]
    assert _weights(model) == _weights(clean)  # trained again: the clean model exactly
    assert report2.converged == report.converged


def test_a_model_without_digest_is_not_used(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KBSC_MODELS", "")
    path = tmp_path / "legacy-model"
    _train(path)
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["weights_sha256"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    _, _, cached, _ = _train(path)
    err = capsys.readouterr().err
    assert not cached and "no weights digest" in err


def test_damaged_resume_checkpoint_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KBSC_MODELS", "")
    path = tmp_path / "resumable"
    _, report, _, _ = _train(path, stop_after=10)
    assert report.stopped == "interrupted" and (path / RESUME_NAME).exists()
    body = verified((path / RESUME_NAME).read_bytes())  # signed
    (path / RESUME_NAME).write_bytes(sign(body)[:-10] + b"0123456789")
    capsys.readouterr()
    _, report, _, _ = _train(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training starts again from step 0" in err[0] and "digest mismatch" in err[0]
    assert report.stopped != "interrupted"


def test_intact_resume_checkpoint_resumes_silently(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KBSC_MODELS", "")
    path = tmp_path / "resumable"
    _train(path, stop_after=10)
    capsys.readouterr()
    _train(path)
    assert "warning" not in capsys.readouterr().err


def test_a_signed_reference_folder_is_verified_by_its_file_table(tmp_path, capsys, monkeypatch):
    """Store folders signed by `kbsc models build` before manifests carried weights_sha256 are verified by
    their reference.files table (so a build does not retrain the committed models), and refused if altered."""
    from kbsc.util import hash_file

    monkeypatch.setenv("KBSC_MODELS", "")
    path = tmp_path / "store-model"
    _train(path)
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["weights_sha256"]
    manifest["reference"] = {"files": {"model.pt": {"sha256": hash_file(path / "model.pt", 64), "bytes": 1}}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert _train(path)[2]  # cached: verified by the table
    data = bytearray((path / "model.pt").read_bytes())
    data[-100] ^= 0xFF
    (path / "model.pt").write_bytes(bytes(data))
    assert not _train(path)[2] and "does not match the digest" in capsys.readouterr().err
