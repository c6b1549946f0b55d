"""FAISS index kinds for the knowledge base, by name: ``flat`` (exact), ``ivf`` and ``hnsw`` (approximate).

All use inner product, which on L2-normalized knowledge-base rows ranks by cosine similarity for any query
(a query's norm scales all its scores alike). A builder takes ``(features [M, D] float32, **options)`` and
returns ``(index, options)``: a populated CPU index and the options it was actually built with (defaults
filled in), so that a saved knowledge base records them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import faiss
import numpy as np

from kbsc.errors import ConfigError
from kbsc.util import Registry

__all__ = ["INDEXES", "apply_search_options", "build_index", "gpu_available", "to_gpu"]

IndexBuilder = Callable[..., tuple[Any, dict[str, Any]]]
INDEXES: Registry[IndexBuilder] = Registry("knowledge-base index")


def _check_options(kind: str, given: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for the {kind!r} index; "
            f"it takes: {', '.join(allowed) or 'none'}"
        )


def _positive_int(kind: str, name: str, value: Any) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{kind} index option {name} must be a positive integer, got {value!r}") from None
    if out < 1:
        raise ConfigError(f"{kind} index option {name} must be a positive integer, got {value!r}")
    return out


@INDEXES.register("flat")
def build_flat(features: np.ndarray, **options: Any) -> tuple[Any, dict[str, Any]]:
    """Exact inner-product search (``faiss.IndexFlatIP``); the default."""
    _check_options("flat", options, ())
    index = faiss.IndexFlatIP(features.shape[1])
    index.add(features)
    return index, {}


@INDEXES.register("ivf")
def build_ivf(features: np.ndarray, **options: Any) -> tuple[Any, dict[str, Any]]:
    """Inverted file with exact vectors (``faiss.IndexIVFFlat``).

    nlist:  number of k-means cells (default ≈ √M, at most M/39 so every cell gets enough training points)
    nprobe: cells visited per query (default min(nlist, 8))
    """
    _check_options("ivf", options, ("nlist", "nprobe"))
    m, d = features.shape
    nlist = _positive_int("ivf", "nlist", options.get("nlist", max(1, min(round(math.sqrt(m)), m // 39))))
    if nlist > m:
        raise ConfigError(
            f"ivf index: nlist={nlist} exceeds the {m} knowledge-base entries; choose nlist <= {m}"
        )
    nprobe = _positive_int("ivf", "nprobe", options.get("nprobe", min(nlist, 8)))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(features)
    index.add(features)
    opts = {"nlist": nlist, "nprobe": min(nprobe, nlist)}
    apply_search_options(index, "ivf", opts)
    return index, opts


@INDEXES.register("hnsw")
def build_hnsw(features: np.ndarray, **options: Any) -> tuple[Any, dict[str, Any]]:
    """Hierarchical navigable small-world graph (``faiss.IndexHNSWFlat``).

    M:              graph degree (default 32)
    efSearch:       candidate list size at search time (default 64)
    efConstruction: candidate list size while building (default 80)
    """
    _check_options("hnsw", options, ("M", "efSearch", "efConstruction"))
    degree = _positive_int("hnsw", "M", options.get("M", 32))
    ef_search = _positive_int("hnsw", "efSearch", options.get("efSearch", 64))
    ef_construction = _positive_int("hnsw", "efConstruction", options.get("efConstruction", 80))
    index = faiss.IndexHNSWFlat(features.shape[1], degree, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(features)
    opts = {"M": degree, "efSearch": ef_search, "efConstruction": ef_construction}
    apply_search_options(index, "hnsw", opts)
    return index, opts


def apply_search_options(index: Any, kind: str, options: dict[str, Any]) -> None:
    """Set the search-time knobs (nprobe, efSearch) on a CPU index, e.g. after ``faiss.read_index``."""
    if kind == "ivf" and "nprobe" in options:
        faiss.extract_index_ivf(index).nprobe = int(options["nprobe"])
    elif kind == "hnsw" and "efSearch" in options:
        index.hnsw.efSearch = int(options["efSearch"])


def build_index(kind: str, features: np.ndarray, **options: Any) -> tuple[Any, dict[str, Any]]:
    """Build index ``kind`` over ``features`` float32 ``[M, D]``; returns ``(cpu_index, options_used)``."""
    return INDEXES.get(kind)(features, **options)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees at least one GPU."""
    try:
        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    except Exception:  # a faiss build without the GPU symbols, or a broken driver
        return False


def to_gpu(index: Any) -> Any:
    """A GPU copy of ``index`` for searching (caller checks :func:`gpu_available`); HNSW stays on the CPU."""
    if isinstance(index, faiss.IndexHNSW):
        return index
    res = faiss.StandardGpuResources()
    gpu = faiss.index_cpu_to_gpu(res, 0, index)
    gpu.referenced_resources = res  # keep the resources alive as long as the index
    return gpu
