"""An outside JSCC model for the kbsc grid: SoftCast-style linear analog coding (Jakubczak & Katabi, 2011).

It stands for "a model from another codebase": it uses numpy/scipy only, knows nothing of kbsc's internals,
and is plugged in by name. The image (centred to [-0.5, 0.5]) goes through an orthonormal 2-D DCT per colour
channel; the 2k coefficients with the largest variance (estimated on training images: the "checkpoint") are
scaled by the MSE-optimal power allocation g_i ∝ λ_i^(-1/4) and sent as k complex symbols; the receiver
applies the per-coefficient LMMSE estimate with the noise variance the bridge reports, sets unsent
coefficients to zero and inverts the DCT.

Route 1 (import the model), in an experiment YAML::

    systems:
      - name: plugin
        label: softcast
        options: {module: "examples/plugin_model.py:SoftCastJSCC", checkpoint: softcast.npz}

and ``kbsc run CONFIG --allow-code`` (a config that imports code runs only with that opt-in).

Route 2 (run elsewhere, import the outcomes): :func:`run_on_export` sends images over realizations exported by
the bridge and writes the ``.npz`` that ``kbsc.jscc.plugin.import_outcomes`` reads (system ``jscc-import``).

Make a checkpoint: ``python examples/plugin_model.py fit --out softcast.npz [--data-dir DIR]`` (fits on the
embedded dataset's training split).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.fft import dctn, idctn


def _coefficients(images: np.ndarray) -> np.ndarray:
    """uint8 ``[B, H, W, 3]`` → DCT coefficients ``[B, H·W·3]`` (orthonormal, per channel)."""
    x = images.astype(np.float64) / 255.0 - 0.5
    return dctn(x, axes=(1, 2), norm="ortho").reshape(len(images), -1)


def fit_checkpoint(images: np.ndarray, path: str | Path) -> Path:
    """Estimate the coefficient variances on ``images`` (uint8 ``[N, H, W, 3]``) and save them to ``path``."""
    c = _coefficients(images)
    var = c.var(axis=0) + 1e-8
    mean = c.mean(axis=0)
    order = np.argsort(-var, kind="stable")
    np.savez(path, order=order.astype(np.int64), var=var, mean=mean, shape=np.array(images.shape[1:]))
    return Path(path)


class SoftCastJSCC:
    """SoftCast analog JSCC.

    ``encode(images uint8 [B,H,W,3], snr_db, k) -> complex [B,k]``; ``decode(y, noise_var, snr_db) -> images
    uint8 [B,H,W,3]``.
    """

    def __init__(self, checkpoint: str | Path) -> None:
        with np.load(checkpoint, allow_pickle=False) as f:
            self.order, self.var, self.mean = f["order"], f["var"], f["mean"]
            self.shape = tuple(int(v) for v in f["shape"])

    def _gains(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.order[: 2 * k]
        lam = self.var[idx]
        g = np.sqrt(k * lam**-0.5 / np.sum(lam**0.5))  # Σ g² λ = k: mean symbol power 1
        return idx, g

    def encode(self, images: np.ndarray, snr_db: float, k: int) -> np.ndarray:
        idx, g = self._gains(k)
        r = (_coefficients(images)[:, idx] - self.mean[idx]) * g
        return (r[:, 0::2] + 1j * r[:, 1::2]).astype(np.complex64)

    def decode(self, symbols: np.ndarray, noise_var: np.ndarray, snr_db: float) -> np.ndarray:
        b, k = symbols.shape
        idx, g = self._gains(k)
        r = np.empty((b, 2 * k))
        r[:, 0::2], r[:, 1::2] = symbols.real, symbols.imag
        nv = np.repeat(noise_var.astype(np.float64) / 2.0, 2, axis=1)  # per real
        lam = self.var[idx]
        c = np.tile(self.mean, (b, 1))
        c[:, idx] += g * lam / (g**2 * lam + nv) * r
        x = idctn(c.reshape(b, *self.shape), axes=(1, 2), norm="ortho") + 0.5
        return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def run_on_export(
    export_path: str | Path,
    images: np.ndarray,
    image_ids: np.ndarray,
    snr_db: float,
    checkpoint: str | Path,
    out: str | Path,
) -> Path:
    """Route 2: send the exported images over the exported realizations at ``snr_db``; save the decoded.

    images uint8 ``[N, H, W, 3]`` with their ids ``[N]`` (a superset of the export's ids). The receiver
    (estimation, equalization) is kbsc's reader of the export, ``kbsc.bridge.Bridge.from_export``; a foreign
    codebase can read the documented arrays (h, noise, data_positions, …) with plain numpy instead. Writes
    ``out`` (.npz: image_ids, images, fingerprint, channel_uses).
    """
    import torch

    from kbsc.bridge import Bridge

    with np.load(export_path, allow_pickle=False) as f:
        k, ids = int(f["k"]), np.asarray(f["image_ids"], dtype=np.int64)
    where = {int(i): j for j, i in enumerate(np.asarray(image_ids).tolist())}
    batch = images[[where[int(i)] for i in ids]]
    model = SoftCastJSCC(checkpoint)
    x = torch.from_numpy(model.encode(batch, snr_db, k))
    x = x / torch.sqrt((x.abs() ** 2).mean(dim=1, keepdim=True))  # the testbed's unit power per image
    res = Bridge.from_export(export_path).transmit(x, torch.from_numpy(ids), float(snr_db))
    decoded = model.decode(res.y.numpy(), res.noise_var.numpy(), snr_db)
    np.savez(
        out,
        image_ids=ids,
        images=decoded,
        fingerprint=np.array(str(res.fingerprint)),
        channel_uses=np.full(len(ids), k, dtype=np.int64),
    )
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="estimate the DCT coefficient variances on the training split")
    f.add_argument("--out", required=True)
    f.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    if args.cmd == "fit":
        from kbsc.data import get_dataset
        from kbsc.util import data_dir

        train = get_dataset("synthetic100", data_dir(args.data_dir)).load("train")
        print(fit_checkpoint(train.images, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
