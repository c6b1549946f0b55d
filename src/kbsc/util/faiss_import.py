"""``import faiss`` with a one-line error when no FAISS build is installed.

FAISS comes from an extra (``pip install 'kbsc[cpu]'`` for faiss-cpu, ``'kbsc[gpu]'`` for a CUDA build; both
provide the module ``faiss``), so a plain ``pip install kbsc`` has none: the modules that need it import it
through :func:`import_faiss`, and the CLI prints the install line instead of a traceback.
"""

from __future__ import annotations

from types import ModuleType

from kbsc.errors import MissingDependency

__all__ = ["FAISS_HOW_TO", "import_faiss"]

FAISS_HOW_TO = (
    "FAISS is not installed: pip install 'kbsc[cpu]' (faiss-cpu), or 'kbsc[gpu]' on a CUDA machine "
    "(docs/gpu.md); inside the checkout `make install` does the first"
)


def import_faiss() -> ModuleType:
    """The ``faiss`` module; :class:`MissingDependency` (one line, also an ImportError) without it."""
    try:
        import faiss
    except ImportError:
        raise MissingDependency(FAISS_HOW_TO) from None
    return faiss
