"""A restricted unpickler for untrusted pickles such as CIFAR-100's python files (docs/design.md §7).

``pickle.load`` runs whatever callable a file names. This unpickler resolves only an allow-list of globals:
numpy's array/scalar reconstruction helpers, ``numpy.dtype`` and the two ways protocol-2 pickles write byte
strings (``_codecs.encode(str, 'latin1')``, and ``bytes()`` for an empty one), each limited to exactly that.
Plain containers, strings, bytes and numbers need no globals. Anything else (``os.system``,
``builtins.eval``, ``subprocess.Popen`` …) raises :class:`DataError` before it is called.

``numpy.ndarray`` is resolved to a token that cannot be called: a real array pickle names it only as the
first argument of ``_reconstruct(ndarray, (0,), b'b')`` (the data then comes from the pickle itself), while
a crafted one could call ``ndarray((2**45,), 'u1')`` and allocate without bound. ``_reconstruct`` is wrapped
to accept only that token and an empty shape, so an array's memory comes from the file's own bytes.

Dtypes are checked where they are used (a dtype's own ``__setstate__`` can add a subarray to it): no
subarray dtypes (``dtype(('O', (2**27,)))`` makes one placeholder element of 1 GiB), no element over
:data:`MAX_ITEMSIZE` bytes. An array's ``__setstate__`` (the pickle's BUILD) is checked before numpy runs it:
its data must hold exactly the elements its shape asks for (numpy allocates an object array's shape first,
then compares). The unpickler is the pure-Python one, whose BUILD can be intercepted; CIFAR-100's files hold
a few large byte strings, so it reads them at the same speed.
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


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` inside a pickle: an argument of ``_reconstruct``, never a callable."""

    def __repr__(self) -> str:
        return "numpy.ndarray (as a name only)"


_NDARRAY = _NdarrayToken()


MAX_ITEMSIZE = 1 << 16  # bytes per array element (CIFAR's are 1)


def _check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy dtype if it has no subarray (also in fields) and a bounded element size."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise DataError(f"a pickled array has an invalid dtype ({exc})") from None
    todo = [dt]
    while todo:
        d = todo.pop()
        if d.subdtype is not None or d.shape != ():
            raise DataError(f"a pickled array uses a subarray dtype {d!r}; data files use plain dtypes")
        if d.itemsize > MAX_ITEMSIZE:
            raise DataError(f"a pickled array has elements of {d.itemsize} bytes; at most {MAX_ITEMSIZE}")
        if d.fields:
            todo.extend(f[0] for f in d.fields.values())
    return dt


def _check_array_state(state: Any) -> None:
    """An ndarray ``__setstate__`` argument ``(version, shape, dtype, fortran, data)`` whose data holds
    exactly the elements of its shape (so numpy allocates no more than the file holds)."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise DataError("a pickled array has a malformed state")
    shape, dtype, data = state[-4], state[-3], state[-1]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise DataError(f"a pickled array has an invalid shape {shape!r}")
    dt = _check_dtype(dtype)
    n = 1
    for d in shape:
        n *= d
    if dt.hasobject:
        if not isinstance(data, list) or len(data) != n:
            raise DataError(f"a pickled object array of shape {shape} does not hold {n} elements")
    elif not isinstance(data, bytes | bytearray | str) or len(data) != n * dt.itemsize:
        raise DataError(f"a pickled array of shape {shape} and dtype {dt} does not hold its {n} elements")


def _scalar(dtype: Any, *args: Any) -> Any:
    """``numpy.core.multiarray.scalar`` for plain dtypes only."""
    return _numpy_scalar()(_check_dtype(dtype), *args)


def _reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` for plain arrays with an empty placeholder shape."""
    if isinstance(dtype_code, np.dtype):
        _check_dtype(dtype_code)
    if subtype is not _NDARRAY:
        raise DataError(f"a pickled array names {subtype!r} as its type; only numpy.ndarray is allowed")
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and 0 <= d <= 1 for d in dims):
        raise DataError(
            f"a pickled array asks for an empty placeholder of shape {shape!r}; real pickles use (0,)"
        )
    return _numpy_reconstruct()(np.ndarray, dims, dtype_code)


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode(str, 'latin1')``: how protocol-2 pickles store non-empty bytes (and nothing else)."""
    if not isinstance(text, str) or str(encoding).replace("-", "").lower() != "latin1":
        raise DataError(f"a pickle calls codecs.encode with {type(text).__name__}, {encoding!r}; only latin1")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``: how protocol-2 pickles store an empty byte string (``bytes(n)`` would allocate n)."""
    if args:
        raise DataError("a pickle calls bytes() with arguments; only the empty bytes() is allowed")
    return b""


def _allowed() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x and 2.x pickles
        table[(module, "_reconstruct")] = _reconstruct
        table[(module, "scalar")] = _scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol-5 pickles of arrays
        table[(module, "_frombuffer")] = np._core.numeric._frombuffer
    table[("numpy", "ndarray")] = _NDARRAY
    table[("numpy", "dtype")] = np.dtype
    table[("_codecs", "encode")] = _latin1_encode  # protocol-2 pickles of bytes: encode(str, 'latin1')
    for module in ("__builtin__", "builtins"):  # protocol-2 pickles of b"" (e.g. an empty array's data)
        table[(module, "bytes")] = _empty_bytes
    return table


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed()


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]  # its BUILD can be replaced
    """Unpickler that admits only :data:`ALLOWED_GLOBALS`; bytes stay bytes (``encoding="bytes"``); array
    and dtype states are checked before numpy applies them."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: BinaryIO, source: str = "pickle") -> None:
        super().__init__(file, encoding="bytes")
        self._source = source

    def load_build(self) -> None:
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        state = self.stack[-1] if self.stack else None
        if isinstance(inst, np.ndarray):
            _check_array_state(state)
        super().load_build()
        if isinstance(inst, np.dtype):
            _check_dtype(inst)

    dispatch[pickle.BUILD[0]] = load_build

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
    except (MemoryError, OverflowError) as exc:  # a last line: sizes are bounded by the file, see above
        raise DataError(
            f"{source} asks for more memory than a data file can need ({type(exc).__name__})"
        ) from None


def safe_loads(data: bytes, source: str = "pickle") -> Any:
    return safe_load(io.BytesIO(data), source)
