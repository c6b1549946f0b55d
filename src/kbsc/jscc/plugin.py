"""Outside JSCC models in the grid: an importable protocol, and an importer for models that cannot be
imported.

**Route 1 – import the model.** A class, named in the experiment YAML as ``module: "pkg.mod:Class"`` (or
``"path/to/file.py:Class"``) with ``checkpoint: path``, constructed as ``Class(checkpoint=path, **kwargs)``
(the class loads its own checkpoint), with two methods::

    encode(images, snr_db: float, k: int) -> symbols        # images uint8 numpy [B, 32, 32, 3]
                                                            # symbols complex [B, k] (numpy or torch)
    decode(symbols, noise_var, snr_db: float) -> images     # symbols complex64 numpy [B, k] (equalized),
                                                            # noise_var float32 numpy [B, k] (per symbol);
                                                            # images [B, 32, 32, 3]: uint8, or float in [0, 1]

The testbed normalizes each image's symbols to mean power 1 before the bridge (docs/design.md §2: every system
meets the same power constraint), so a model that already does so is unchanged. Example:
``examples/plugin_model.py``.

**Route 2 – import the outcomes.** Export the cell's realizations with :func:`export_realizations` (the
bridge's documented export), run the outside code on them, and save an ``.npz`` with ``image_ids`` int64
``[N]`` and either ``images`` uint8 ``[N, 32, 32, 3]`` (decoded images: scored here with the same extractor
and knowledge base) or ``retrieved`` int64 ``[N, K≥1]`` (retrieved class labels). :func:`import_outcomes`
turns it into the cell's :class:`~kbsc.systems.base.Outcomes` (system ``jscc-import``), optional arrays
``channel_uses [N]`` and a ``fingerprint`` string are checked/kept.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kbsc.errors import ConfigError, DataError
from kbsc.jscc.base import power_normalize
from kbsc.jscc.evaluate import outcomes_from_images
from kbsc.jscc.metrics import to_uint8
from kbsc.systems.base import Outcomes

__all__ = ["OutsideModel", "export_realizations", "import_outcomes", "load_plugin"]


class OutsideModel:
    """A loaded outside model behind the testbed's encode/decode calls (shapes and dtypes checked)."""

    def __init__(self, impl: Any, spec: str) -> None:
        self.impl, self.spec = impl, spec

    def encode(self, images: np.ndarray, snr_db: float, k: int) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` → complex64 ``[B, k]`` with mean power 1 per image."""
        x = self.impl.encode(images, float(snr_db), int(k))
        x = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x))
        if not torch.is_complex(x) or tuple(x.shape) != (images.shape[0], k):
            raise DataError(
                f"plug-in {self.spec}: encode must return complex symbols of shape "
                f"{(images.shape[0], k)}, got {x.dtype} {tuple(x.shape)}"
            )
        if not torch.isfinite(torch.view_as_real(x)).all():
            raise DataError(f"plug-in {self.spec}: encode returned NaN or infinite symbols")
        return power_normalize(x.to(torch.complex64))

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor, snr_db: float, k: int) -> np.ndarray:
        """complex ``[B, k]``, noise variance ``[B, k]`` → uint8 images ``[B, H, W, 3]``."""
        out = self.impl.decode(
            y.detach().numpy().astype(np.complex64),
            noise_var.detach().numpy().astype(np.float32),
            float(snr_db),
        )
        out = np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out)
        b = y.shape[0]
        if out.ndim != 4 or out.shape[0] != b or out.shape[-1] != 3:
            raise DataError(f"plug-in {self.spec}: decode must return images [{b}, H, W, 3], got {out.shape}")
        if out.dtype == np.uint8:
            return out
        if not np.issubdtype(out.dtype, np.floating):
            raise DataError(f"plug-in {self.spec}: decode must return uint8 or float images, got {out.dtype}")
        return to_uint8(np.nan_to_num(out, nan=0.5))


def _import_module(mod: str) -> Any:
    if mod.endswith(".py"):
        path = Path(mod).expanduser()
        if not path.is_file():
            raise ConfigError(f"plug-in module file {path} not found")
        name = "kbsc_plugin_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"plug-in module file {path} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"plug-in module {mod!r} not found ({exc.msg}); install it or put it on PYTHONPATH"
        ) from None


def load_plugin(module: str, checkpoint: str | None = None, **kwargs: Any) -> OutsideModel:
    """Import ``"pkg.mod:Class"`` (or ``"file.py:Class"``), build ``Class(checkpoint=…, **kw)``, check."""
    if not isinstance(module, str) or ":" not in module.rstrip(":") or module.endswith(":"):
        raise ConfigError(f"plug-in module must look like 'pkg.mod:Class' or 'file.py:Class', got {module!r}")
    mod_name, _, cls_name = module.rpartition(":")
    mod = _import_module(mod_name)
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise ConfigError(f"plug-in module {mod_name!r} has no attribute {cls_name!r}")
    missing = [m for m in ("encode", "decode") if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(
            f"plug-in {module} lacks method(s) {', '.join(missing)}; see kbsc.jscc.plugin for the protocol"
        )
    if checkpoint is not None and not Path(checkpoint).expanduser().exists():
        raise ConfigError(f"plug-in checkpoint {checkpoint} not found")
    try:
        impl = cls(checkpoint=checkpoint, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"plug-in {module} cannot be built as {cls_name}(checkpoint=..., ...): {exc}"
        ) from None
    return OutsideModel(impl, module)


def export_realizations(bridge: Any, path: str | Path, image_ids: np.ndarray, k: int) -> Path:
    """Write the realizations of ``image_ids`` with ``k`` symbols each through the bridge's own export."""
    if not hasattr(bridge, "export"):
        raise ConfigError(f"{type(bridge).__name__} cannot export realizations (needs kbsc.bridge.Bridge)")
    bridge.export(Path(path), np.asarray(image_ids, dtype=np.int64), int(k))
    return Path(path)


MAX_MEMBER_BYTES = 2 << 30  # one array of an outcome file (1000 images of 32x32x3 are 3 MB)


def _check_npz_members(path: Path) -> None:
    """Every member's header asks for no more bytes than the member holds (and under the cap): read from the
    headers, before numpy allocates an array of the declared shape."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > min(info.file_size, MAX_MEMBER_BYTES):
                raise DataError(
                    f"{path}: member {info.filename} declares {need:,} bytes of shape {shape} but holds "
                    f"{info.file_size:,}; not a valid outcome file"
                )


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        _check_npz_members(path)
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise DataError(f"outcome file {path} not found") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, MemoryError) as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        raise DataError(
            f"{path} is not a readable .npz of plain arrays ({type(exc).__name__}: {first})"
        ) from None


def _integers(path: Path, data: dict[str, np.ndarray], key: str, n: int | None = None) -> np.ndarray:
    """``data[key]`` as a 1-d int64 array (of length ``n`` if given); one-line DataError otherwise."""
    arr = np.asarray(data[key])
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)) or arr.ndim > 1:
        raise DataError(f"{path}: {key!r} must be a list of integers, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64).reshape(-1)
    if n is not None and len(arr) != n:
        raise DataError(f"{path}: {key!r} must have one entry per image id ({n}), got {len(arr)}")
    return arr


def import_outcomes(path: str | Path, ctx: Any, *, fingerprint: str = "", k: int | None = None) -> Outcomes:
    """Outcomes (in ``ctx``'s image order) from an outside model's ``.npz`` (see the module docstring).

    ctx: the cell's :class:`~kbsc.systems.base.EvalContext` (labels, and extractor + KB to score images).
    fingerprint: the cell's realization fingerprint; if the file carries one, they must agree.

    k: channel uses per image, recorded as ``channel_uses`` unless the file gives its own.
    """
    path = Path(path)
    data = _load_npz(path)
    if "image_ids" not in data or not ({"images", "retrieved"} & set(data)):
        raise DataError(f"{path} must hold 'image_ids' and 'images' or 'retrieved'; it has {sorted(data)}")
    file_ids = _integers(path, data, "image_ids")
    pos = {int(i): j for j, i in enumerate(file_ids.tolist())}
    if len(pos) != len(file_ids):
        raise DataError(f"{path}: 'image_ids' has duplicates")
    want = np.asarray(ctx.image_ids, dtype=np.int64)
    missing = [int(i) for i in want if int(i) not in pos]
    if missing:
        raise DataError(
            f"{path} lacks {len(missing)} of the cell's {len(want)} images (e.g. id {missing[0]})"
        )
    order = np.array([pos[int(i)] for i in want], dtype=np.int64)
    stored_fp = str(data["fingerprint"]) if "fingerprint" in data else ""
    if stored_fp and fingerprint and stored_fp != fingerprint:
        raise DataError(
            f"{path} was made on other realizations (fingerprint {stored_fp[:12]}…, this cell "
            f"{fingerprint[:12]}…); re-export and rerun the outside model"
        )
    fp = fingerprint or stored_fp
    uses = _integers(path, data, "channel_uses", len(file_ids)) if "channel_uses" in data else None
    uses = (
        uses[order]
        if uses is not None
        else (np.full(len(want), int(k), dtype=np.int64) if k is not None else None)
    )
    if "images" in data:
        images = np.asarray(data["images"])
        if (
            images.ndim != 4
            or images.shape[0] != len(file_ids)
            or images.shape[1:] != tuple(ctx.images.shape[1:])
        ):
            raise DataError(
                f"{path}: 'images' must be [N, {', '.join(map(str, ctx.images.shape[1:]))}] "
                f"for N={len(file_ids)} ids, got {images.shape}"
            )
        if images.dtype != np.uint8:
            raise DataError(f"{path}: 'images' must be uint8, got {images.dtype}")
        return outcomes_from_images(images[order], ctx, fp, uses)
    retrieved = np.asarray(data["retrieved"])
    if retrieved.ndim == 1:
        retrieved = retrieved[:, None]
    if retrieved.shape[0] != len(file_ids) or not np.issubdtype(retrieved.dtype, np.integer):
        raise DataError(
            f"{path}: 'retrieved' must be integer labels [N, K] for N={len(file_ids)} ids, "
            f"got {retrieved.dtype} {retrieved.shape}"
        )
    retrieved = retrieved[order].astype(np.int64)
    if retrieved.shape[1] < 5:  # pad to top-5 with -1 (counts wrong), as Outcomes expects K ≥ 5
        retrieved = np.concatenate([retrieved, np.full((len(want), 5 - retrieved.shape[1]), -1, np.int64)], 1)
    extras = {"channel_uses": uses} if uses is not None else {}
    return Outcomes(
        image_ids=want,
        labels=np.asarray(ctx.labels, dtype=np.int64),
        retrieved=retrieved,
        fingerprint=fp,
        extras=extras,
    )
