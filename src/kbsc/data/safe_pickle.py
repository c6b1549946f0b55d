"""A restricted unpickler for untrusted pickles such as CIFAR-100's python files (DESIGN.md §7).

``pickle.load`` runs whatever callable a file names. This unpickler resolves only an allow-list of globals:
numpy's array/scalar reconstruction helpers, ``numpy.ndarray``/``numpy.dtype`` and the codec helper
that Python-2 pickles use for byte strings. Plain containers, strings, bytes and numbers need no globals.
Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen`` …) raises :class:`DataError` before
it is called.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any, BinaryIO

import numpy as np

from kbsc.errors import DataError

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "safe_load", "safe_loads"]


def _numpy_reconstruct() -> Any:
    return np._core.multiarray._reconstruct  # numpy >= 2 location


def _numpy_scalar() -> Any:
    return np._core.multiarray.scalar


def _allowed() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x pickles
        table[(module, "_reconstruct")] = _numpy_reconstruct()
        table[(module, "scalar")] = _numpy_scalar()
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol-5 pickles of arrays
        table[(module, "_frombuffer")] = np._core.numeric._frombuffer
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    table[("_codecs", "encode")] = codecs.encode  # protocol-2 pickles of bytes: encode(str, 'latin1')
    return table


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only :data:`ALLOWED_GLOBALS`; bytes stay bytes (``encoding="bytes"``)."""

    def __init__(self, file: BinaryIO, source: str = "pickle") -> None:
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._source} references {module}.{name}, which a data file has no reason to contain; "
                "refusing to load it (only plain containers, strings, bytes, numbers and numpy arrays are "
                "allowed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self._source} uses persistent ids, which data files do not; refusing to load it")


def safe_load(file: BinaryIO, source: str = "pickle") -> Any:
    """Unpickle ``file`` with :class:`RestrictedUnpickler`; malformed data becomes a :class:`DataError`."""
    try:
        return RestrictedUnpickler(file, source).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{source} is not a readable pickle ({type(exc).__name__}: {exc})") from None


def safe_loads(data: bytes, source: str = "pickle") -> Any:
    return safe_load(io.BytesIO(data), source)
