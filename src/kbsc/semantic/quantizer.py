"""Feature quantizers for the digital semantic baseline: a FAISS product quantizer sized to a bit budget.

A product quantizer (PQ) splits the D-d feature into M sub-vectors of D/M dims and replaces each by the index
of its nearest of 2^nbits centroids, learned by k-means on the training split's features: M·nbits bits per
image. :func:`pq_spec_for` picks the (M, nbits) that fills a budget (the NR transport block) best: the most
bits ≤ budget, ties to the larger nbits (fewer, longer sub-vectors: more vector-quantization gain at the same
rate). M runs over the divisors of D with at least ``MIN_DSUB`` dims per sub-vector (FAISS needs equal
sub-vectors), nbits over ``NBITS_MIN`` … ``NBITS_MAX`` = 6 … 8. Why not fewer bits per sub-quantizer: on the
embedded default (1,000 sender images, clean top-1 79.6 %) 64 bits as 8×8 retrieve at 79.6 %, as 16×4 at
61.0 %, as 32×2 at 34.5 %; 128 bits as 16×8 at 80.1 %, as 32×4 at 70.1 %: a small codebook per sub-vector
cannot name the ~100 feature clusters. With D = 512 every budget from 24 bits (the smallest NR transport
block) to 2,048 is filled to at least 2/3 (the worst case sits just below the next power-of-two M at 6 bits);
the largest code, 256×8 = 2,048 bits (4 bits per dimension), is the cap: retrieval has saturated long before
(it is at the clean accuracy from 64 bits on), and a larger transport block carries the code plus known
filler.

Trained quantizers are cached under ``<data dir>/semantic/pq/<key>/`` (centroids.npy + manifest.json); the
key hashes the training features and every training setting, and the manifest records the hash of the
centroids that are used, so a changed or corrupt file is retrained, never silently reused.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kbsc.errors import ConfigError, DataError
from kbsc.util import hash_array, hash_obj, read_manifest, write_manifest
from kbsc.util.faiss_import import import_faiss

faiss = import_faiss()

__all__ = [
    "MIN_DSUB",
    "NBITS_MAX",
    "NBITS_MIN",
    "PQ_FORMAT",
    "FeatureQuantizer",
    "PqSpec",
    "load_or_train",
    "pq_spec_for",
    "pq_specs",
    "train_quantizer",
]

NBITS_MIN = 6
NBITS_MAX = 8
#: at least this many dims per sub-vector (dsub = 1 would be a scalar quantizer at 8 bits per dim: 4,096 bits)
MIN_DSUB = 2
PQ_FORMAT = 1
#: training points per centroid (k-means on a subsample; FAISS itself caps at 256 per centroid)
POINTS_PER_CENTROID = 32
#: training points at least (small codebooks still see a broad sample)
MIN_TRAIN_POINTS = 2048
KMEANS_ITER = 15


@dataclass(frozen=True, order=True)
class PqSpec:
    """M sub-quantizers of nbits each on a ``dim``-d feature: ``bits = m · nbits`` per image."""

    m: int
    nbits: int
    dim: int

    @property
    def bits(self) -> int:
        return self.m * self.nbits

    @property
    def code_bytes(self) -> int:
        """Bytes of FAISS's packed code (bits packed little-endian, the last byte zero-padded)."""
        return (self.bits + 7) // 8

    def label(self) -> str:
        return f"PQ{self.m}x{self.nbits}"


def pq_specs(dim: int, nbits_min: int = NBITS_MIN, nbits_max: int = NBITS_MAX) -> list[PqSpec]:
    """Every (M, nbits) on a ``dim``-d feature: M divides dim with dim/M ≥ MIN_DSUB (M = 1 always),
    nbits_min ≤ nbits ≤ nbits_max."""
    if int(dim) < 1 or not 1 <= int(nbits_min) <= int(nbits_max) <= 16:
        raise ConfigError(
            f"PQ needs dim ≥ 1 and 1 ≤ nbits_min ≤ nbits_max ≤ 16, got dim={dim}, "
            f"nbits {nbits_min} … {nbits_max}"
        )
    ms = [m for m in range(1, int(dim) + 1) if dim % m == 0 and (m == 1 or dim // m >= MIN_DSUB)]
    return [PqSpec(m, b, int(dim)) for m in ms for b in range(int(nbits_min), int(nbits_max) + 1)]


def pq_spec_for(
    budget_bits: int, dim: int, nbits_min: int = NBITS_MIN, nbits_max: int = NBITS_MAX
) -> PqSpec | None:
    """The code that fills ``budget_bits`` best (most bits ≤ budget, then larger nbits); None if none fits."""
    fits = [s for s in pq_specs(dim, nbits_min, nbits_max) if s.bits <= int(budget_bits)]
    if not fits:
        return None
    return max(fits, key=lambda s: (s.bits, s.nbits))


class FeatureQuantizer:
    """A trained product quantizer: features float32 ``[N, D]`` ↔ code bits uint8 ``[N, M·nbits]``."""

    def __init__(self, spec: PqSpec, centroids: np.ndarray) -> None:
        self.spec = spec
        self.pq = faiss.ProductQuantizer(spec.dim, spec.m, spec.nbits)
        cent = np.ascontiguousarray(centroids, dtype=np.float32).reshape(-1)
        if cent.size != spec.dim * (1 << spec.nbits):
            raise DataError(f"{spec.label()} needs {spec.dim << spec.nbits} centroid values, got {cent.size}")
        faiss.copy_array_to_vector(cent, self.pq.centroids)
        self.centroids = cent
        self.content_hash = hash_array(cent, 32)

    @property
    def bits(self) -> int:
        return self.spec.bits

    def encode_codes(self, features: np.ndarray) -> np.ndarray:
        """Packed FAISS codes uint8 ``[N, code_bytes]`` of features ``[N, D]``."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.spec.dim:
            raise ConfigError(f"{self.spec.label()} quantizes [N, {self.spec.dim}] features, got {x.shape}")
        return self.pq.compute_codes(x)

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Code bits uint8 ``[N, M·nbits]`` (FAISS's packed code, unpacked little-endian and trimmed)."""
        codes = self.encode_codes(features)
        return np.unpackbits(codes, axis=1, bitorder="little")[:, : self.bits]

    def codes_from_bits(self, bits: np.ndarray) -> np.ndarray:
        """Packed codes uint8 ``[N, code_bytes]`` from code bits ``[N, M·nbits]``."""
        b = np.asarray(bits, dtype=np.uint8)
        if b.ndim != 2 or b.shape[1] != self.bits:
            raise ConfigError(f"{self.spec.label()} decodes [N, {self.bits}] bits, got {b.shape}")
        pad = np.zeros((len(b), 8 * self.spec.code_bytes - self.bits), dtype=np.uint8)
        return np.packbits(np.concatenate([b, pad], axis=1), axis=1, bitorder="little")

    def decode(self, bits: np.ndarray) -> np.ndarray:
        """Reconstructed features float32 ``[N, D]`` (concatenated centroids) from code bits."""
        codes = self.codes_from_bits(bits)
        if len(codes) == 0:
            return np.zeros((0, self.spec.dim), np.float32)
        return self.pq.decode(np.ascontiguousarray(codes))


def _train_rows(n: int, spec: PqSpec, seed: int, n_train: int | None) -> np.ndarray:
    want = max(MIN_TRAIN_POINTS, POINTS_PER_CENTROID << spec.nbits) if n_train is None else int(n_train)
    if want >= n:
        return np.arange(n)
    rng = np.random.default_rng([int(seed), spec.m, spec.nbits])
    return np.sort(rng.choice(n, size=want, replace=False))


def train_quantizer(
    features: np.ndarray, spec: PqSpec, seed: int = 0, n_train: int | None = None
) -> FeatureQuantizer:
    """k-means (FAISS, ``KMEANS_ITER`` iterations, seeded) on a seeded subsample of ``features [N, D]``."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != spec.dim:
        raise ConfigError(f"{spec.label()} trains on [N, {spec.dim}] features, got {x.shape}")
    rows = _train_rows(len(x), spec, seed, n_train)
    if len(rows) < (1 << spec.nbits):
        raise DataError(f"{spec.label()} needs at least {1 << spec.nbits} training features, got {len(rows)}")
    pq = faiss.ProductQuantizer(spec.dim, spec.m, spec.nbits)
    pq.cp.seed = int(seed)
    pq.cp.niter = KMEANS_ITER
    pq.cp.max_points_per_centroid = max(256, -(-len(rows) >> spec.nbits))  # no second subsampling
    pq.cp.min_points_per_centroid = 1  # 32 per centroid is deliberate: no warning per sub-quantizer
    # one thread: OpenMP's spinning workers made training 4-9x slower on a shared, loaded machine
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        pq.train(np.ascontiguousarray(x[rows]))
    finally:
        faiss.omp_set_num_threads(threads)
    return FeatureQuantizer(spec, faiss.vector_to_array(pq.centroids))


def _cache_key(spec: PqSpec, train_hash: str, seed: int, n_train: int | None) -> dict:
    return {
        "kind": "pq-quantizer",
        "format": PQ_FORMAT,
        "m": spec.m,
        "nbits": spec.nbits,
        "dim": spec.dim,
        "seed": int(seed),
        "n_train": n_train,
        "points_per_centroid": POINTS_PER_CENTROID,
        "min_train_points": MIN_TRAIN_POINTS,
        "kmeans_iter": KMEANS_ITER,
        "train_features_hash": train_hash,
        "faiss": faiss.__version__,
    }


def load_or_train(
    features: np.ndarray,
    spec: PqSpec,
    cache_dir: str | os.PathLike[str] | None,
    seed: int = 0,
    n_train: int | None = None,
    train_hash: str | None = None,
) -> FeatureQuantizer:
    """The quantizer for ``spec`` trained on ``features``: from ``cache_dir`` if a matching one is stored
    (manifest inputs and centroid hash checked), else trained and stored (atomically: temporary folder,
    rename).

    train_hash: ``hash_array(features, 32)`` if the caller has it (hashing 100 MB takes a fraction of a
    second).
    """
    if cache_dir is None:
        return train_quantizer(features, spec, seed, n_train)
    train_hash = train_hash or hash_array(np.ascontiguousarray(features, np.float32), 32)
    key = _cache_key(spec, train_hash, seed, n_train)
    directory = Path(cache_dir) / f"{spec.label()}-{hash_obj(key, 16)}"
    if directory.is_dir():
        from kbsc.util.warn import warn  # lazy: only this path needs it

        why = "its manifest does not match"
        try:
            stored = read_manifest(directory)
            if isinstance(stored, dict) and all(stored.get(k) == v for k, v in key.items()):
                q = FeatureQuantizer(spec, np.load(directory / "centroids.npy", allow_pickle=False))
                if q.content_hash == stored.get("centroids_hash"):
                    return q
                why = "the centroids do not match their recorded hash (damaged or altered)"
        except (DataError, OSError, ValueError) as exc:
            why = f"it cannot be read ({type(exc).__name__})"
        warn(f"quantizer cache {directory} is not used: {why}; it is trained again")
        shutil.rmtree(directory, ignore_errors=True)  # stale or corrupt: retrain
    q = train_quantizer(features, spec, seed, n_train)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        np.save(tmp / "centroids.npy", q.centroids)
        write_manifest(tmp, {**key, "centroids_hash": q.content_hash, "bits": spec.bits})
        try:
            os.replace(tmp, directory)
        except OSError:  # another process stored the same quantizer first: keep theirs
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return q


def bench_quantizer(quick: bool = False, n_train: int = 50_000, n_encode: int = 5_000) -> dict:
    """Training and coding cost of the digital semantic baseline's quantizers (``kbsc bench``).

    Trains fresh (no cache) on seeded random unit-norm 512-d features of the training split's size: FAISS's
    k-means runs a fixed number of iterations on a fixed-size subsample, so the cost does not depend on the
    features' content. Codes: 8×8 (64 bits, the smallest code at the clean accuracy on the embedded
    default), 32×7 (224 bits, CBR 1/8 at MCS 4) and, without ``quick``, 256×7 (1,792 bits, CBR 1/2 at
    MCS 10). Encoding = compute codes + unpack bits; decoding = pack bits + reconstruct.
    """
    import time

    rng = np.random.default_rng(0)
    n_train, n_encode = (10_000, 1_000) if quick else (int(n_train), int(n_encode))
    x = rng.standard_normal((n_train, 512)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    specs = [PqSpec(8, 8, 512)] if quick else [PqSpec(8, 8, 512), PqSpec(32, 7, 512), PqSpec(256, 7, 512)]
    rows = []
    for spec in specs:
        t0 = time.perf_counter()
        q = train_quantizer(x, spec)
        t1 = time.perf_counter()
        bits = q.encode(x[:n_encode])
        t2 = time.perf_counter()
        q.decode(bits)
        t3 = time.perf_counter()
        rows.append(
            {
                "code": spec.label(),
                "bits": spec.bits,
                "train_points": int(len(_train_rows(n_train, spec, 0, None))),
                "train_s": round(t1 - t0, 3),
                "encode_images_per_s": round(n_encode / max(t2 - t1, 1e-9), 1),
                "decode_images_per_s": round(n_encode / max(t3 - t2, 1e-9), 1),
            }
        )
    return {
        "codes": rows,
        "n_train_features": n_train,
        "n_encoded": n_encode,
        "how": "train_quantizer (1 thread, no cache) on random unit-norm features; encode/decode timed",
    }
