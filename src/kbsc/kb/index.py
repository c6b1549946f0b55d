"""FAISS index kinds for the knowledge base, by name: ``flat`` (exact), ``ivf`` and ``hnsw`` (approximate).

Where the search runs: a copy on the GPU (:func:`search_index`) when the installed FAISS has GPU support
(``faiss.get_num_gpus() > 0``) and the device setting is not ``cpu`` (``cuda:N`` picks GPU N), else the
CPU index itself. HNSW has no GPU form and stays on the CPU. The saved index (``index.faiss``) and the
knowledge base's manifest and content hash are always those of the CPU index, so a cache is the same for
both.

Ties: :func:`search_ordered` returns the neighbours of a query ordered by score, best first, and entries
of *exactly* equal score by database id (row number) ascending; for the ``flat`` index it also fetches past
``k`` until the k-th score is not tied with the next, so which of several tied entries make the top k is
fixed as well. The GPU and the CPU flat search then give the same neighbours wherever their scores are the
same floats; they may still differ where a float reduction rounds two nearly equal scores differently.

All use inner product, which on L2-normalized knowledge-base rows ranks by cosine similarity for any query
(a query's norm scales all its scores alike). A builder takes ``(features [M, D] float32, **options)`` and
returns ``(index, options)``: a populated CPU index and the options it was actually built with (defaults
filled in), so that a saved knowledge base records them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kbsc.errors import ConfigError
from kbsc.util import Registry
from kbsc.util.device import device_spec
from kbsc.util.faiss_import import import_faiss

faiss = import_faiss()

__all__ = [
    "INDEXES",
    "apply_search_options",
    "build_index",
    "gpu_available",
    "order_ties",
    "search_index",
    "search_ordered",
    "to_gpu",
]

#: extra neighbours the flat search fetches to settle ties at the k-th place (doubled while still tied)
TIE_MARGIN = 8

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


def to_gpu(index: Any, gpu: int = 0) -> Any:
    """A copy of ``index`` on GPU ``gpu`` for searching (caller checks :func:`gpu_available`); HNSW stays on
    the CPU."""
    if isinstance(index, faiss.IndexHNSW):
        return index
    res = faiss.StandardGpuResources()
    on_gpu = faiss.index_cpu_to_gpu(res, int(gpu), index)
    on_gpu.referenced_resources = res  # keep the resources alive as long as the index
    return on_gpu


def _faiss_gpu_for_setting() -> int | None:
    """The GPU the device setting asks FAISS to use (None: the CPU). Reads the setting's text only, so the
    knowledge base does not import torch: ``cpu`` → None; ``cuda:N`` → N; ``auto``/``cuda`` → 0 when FAISS
    sees a GPU."""

    spec = device_spec()
    if spec == "cpu" or not gpu_available():
        return None
    gpu = int(spec.split(":", 1)[1]) if ":" in spec else 0
    return gpu if gpu < faiss.get_num_gpus() else None


def search_index(cpu_index: Any) -> Any:
    """The index searches run on: a GPU copy of ``cpu_index`` where :func:`_faiss_gpu_for_setting` names a
    GPU, else ``cpu_index`` itself."""
    gpu = _faiss_gpu_for_setting()
    return cpu_index if gpu is None else to_gpu(cpu_index, gpu)


def order_ties(scores: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (scores, idx) ``[N, k]`` sorted by score descending, exact ties by idx ascending (missing
    places, idx -1 with FAISS's lowest score, stay last). FAISS's own CPU heap returns ties by descending id,
    its GPU selection in no fixed order: this rule replaces both."""
    key_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key_idx, -scores.astype(np.float64)), axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(idx, order, axis=1)


def search_ordered(index: Any, queries: np.ndarray, k: int, n_total: int, exact: bool) -> tuple[Any, Any]:
    """Top-``k`` (scores float32, idx int64) ``[N, k]`` of ``queries`` with the tie rule of this module.

    exact: the index is exhaustive (``flat``): fetch past ``k`` while the k-th score is tied with the last
    one fetched, so tied entries enter the top k by id. An approximate index is searched for ``k`` only
    (fetching more could change its candidates) and only reordered.
    """
    fetch = k
    if exact and k < n_total:
        fetch = min(n_total, k + TIE_MARGIN)
    while True:
        scores, idx = index.search(queries, fetch)
        if not exact or fetch >= n_total or fetch == k:
            break
        if not np.any(scores[:, fetch - 1] == scores[:, k - 1]):
            break
        fetch = min(n_total, 2 * fetch)
    scores, idx = order_ties(scores, idx.astype(np.int64, copy=False))
    return scores[:, :k], idx[:, :k]
