"""One cell of the conventional baseline, end to end: quality search under the budget → link → image decoding
(with concealment) → the same extractor → the same knowledge base.

Per image the outcome is one of: *not sent* (not even the lowest quality fits the budget; counted wrong,
``sent = 0``), *delivered* (TB CRC passed: the decoded image is the encoder's own reconstruction at that
quality, looked up in :class:`~kbsc.baselines.cache.DecodedStore`), or *failed* (CRC failed). A failed image
is, with ``failure="conceal"`` (default), decoded from the erroneous payload with libde265's concealment, and
replaced by the fallback image (the per-channel mean of the training images, else mid-grey 128) when the
stream cannot be parsed; with ``failure="miss"`` it counts wrong (retrieved = -1).

PSNR and MS-SSIM are those of what the receiver shows, for every image: an image that was not sent (or failed
with ``failure="miss"``) shows the fallback image, so the per-image ``psnr`` is finite for every image and the
cell means over all images compare across MCS; the sent-only means are separate result columns.

:func:`envelope` takes, per image, the best of several outcomes on the same realizations (top-1 correct, then
top-5 correct, then PSNR): the ``hevc+ldpc-best`` envelope and the ``hevc+capacity`` genie.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbsc.baselines.cache import DecodedStore, PayloadStore, image_key
from kbsc.baselines.codecs import Encoded, ImageCodec, get_codec
from kbsc.errors import ConfigError
from kbsc.metrics.image import ms_ssim, psnr
from kbsc.nrlink.capacity import capacity_bits
from kbsc.nrlink.link import DEFAULT_DECODER, NRLink, shared_link

__all__ = ["FAILURE_MODES", "LINK_EXTRAS", "BaselineRunner", "CellResult", "envelope", "fallback_image"]

FAILURE_MODES = ("conceal", "miss")
TOP_K = 5
#: per-image extras that describe a transport block (meaningless for the capacity genie)
LINK_EXTRAS = ("bit_errors", "info_bits", "tb_error")
#: distinct decoded images whose features a runner remembers (512-d: 8 MB)
FEATURE_MEMO = 4096
#: (image, fallback) pairs whose PSNR and MS-SSIM a runner remembers
FALLBACK_MEMO = 65536


def fallback_image(shape: tuple[int, int, int], train_images: np.ndarray | None = None) -> np.ndarray:
    """The receiver's image when nothing parseable arrived: per-channel training mean, else mid-grey."""
    if train_images is not None and len(train_images):
        mean = _channel_mean(train_images, shape[2])
    else:
        mean = np.full(shape[2], 128.0)
    return np.broadcast_to(np.rint(mean).astype(np.uint8), shape).copy()


def _channel_mean(images, channels: int) -> np.ndarray:
    """float64 ``[channels]``: ``np.asarray(images, float64).reshape(-1, channels).mean(axis=0)``, exactly.

    For 8/16-bit integer images (a 50,000-image split: seconds and 1.2 GB as float64) every partial sum of
    that float64 mean is an integer below 2**53, hence exact in any summation order: the int64 sum, cast to
    float64 and divided by the count as ``np.mean`` divides, is the same number.
    """
    a = np.asarray(images)
    if a.dtype in (np.uint8, np.int8, np.uint16, np.int16) and a.size < 2**37:
        flat = a.reshape(-1, channels)
        return flat.sum(axis=0, dtype=np.int64).astype(np.float64) / np.float64(len(flat))
    return np.asarray(a, dtype=np.float64).reshape(-1, channels).mean(axis=0)


@dataclass
class CellResult:
    """Per-image outcome arrays ``[N]`` (retrieved ``[N, 5]``) and stage timings."""

    retrieved: np.ndarray
    extras: dict[str, np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)
    #: concealed images whose features were deferred (``defer_concealed``): index → uint8 ``[H, W, 3]``;
    #: their ``retrieved`` rows are -1 and their ``ms_ssim`` NaN until the caller extracts and retrieves them
    #: and computes the MS-SSIM of those it keeps
    pending: dict[int, np.ndarray] = field(default_factory=dict)

    def score(self, labels: np.ndarray) -> np.ndarray:
        """Sort key per image for the best-MCS envelope: top-1 correct, top-5 correct, PSNR."""
        top1 = (self.retrieved[:, 0] == labels).astype(np.float64)
        top5 = (self.retrieved == labels[:, None]).any(axis=1).astype(np.float64)
        p = np.nan_to_num(self.extras["psnr"], nan=-1.0)
        return top1 * 1e6 + top5 * 1e3 + p


class BaselineRunner:
    """Holds the codec, caches and links of one baseline configuration; runs cells."""

    def __init__(
        self,
        codec: str = "hevc",
        failure: str = "conceal",
        decoder: str = DEFAULT_DECODER,
        num_iter: int = 20,
        mcs_table: int = 1,
        cache_dir: Path | None = None,
        codec_options: dict[str, Any] | None = None,
    ) -> None:
        if failure not in FAILURE_MODES:
            raise ConfigError(f"failure must be one of {', '.join(FAILURE_MODES)}, got {failure!r}")
        self.codec: ImageCodec = get_codec(codec, **(codec_options or {}))
        self.failure = failure
        self.decoder = decoder
        self.num_iter = int(num_iter)
        self.mcs_table = int(mcs_table)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.payloads = PayloadStore(self.codec, self.cache_dir)
        self._decoded: dict[str, DecodedStore] = {}
        self._links: dict[tuple[int, int], NRLink] = {}
        self._memo: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._fallback_memo: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    # ------------------------------------------------------------------------------------------ pieces
    def link(self, k: int, mcs: int) -> NRLink:
        key = (int(k), int(mcs))
        if key not in self._links:
            self._links[key] = shared_link(k, mcs, self.mcs_table, self.decoder, self.num_iter)
        return self._links[key]

    def decoded_store(self, extractor) -> DecodedStore:
        fp = str(getattr(extractor, "fingerprint", type(extractor).__name__))
        if fp not in self._decoded:
            self._decoded[fp] = DecodedStore(self.codec, fp, self.cache_dir)
        return self._decoded[fp]

    def encode(self, images: np.ndarray, budgets: np.ndarray, keys: list[str]) -> list[Encoded | None]:
        """Best-quality payload per image under its bit budget (None = does not fit)."""
        return [
            self.payloads.encode_under_budget(im, int(b), key)
            for im, b, key in zip(images, np.broadcast_to(budgets, len(images)), keys, strict=True)
        ]

    def _features(self, extractor, images: np.ndarray) -> np.ndarray:
        """float32 ``[N, D]``; each distinct decoded image goes through the extractor once per runner (a
        failed stream often decodes to the fallback image, or to the same concealed picture in several
        cells), remembered for the last :data:`FEATURE_MEMO` distinct images."""
        fp = str(getattr(extractor, "fingerprint", type(extractor).__name__))
        keys = [(fp, image_key(im)) for im in images]
        first: dict[tuple[str, str], int] = {}
        todo = []
        for i, key in enumerate(keys):
            if key not in self._memo and key not in first:
                first[key] = i
                todo.append(i)
        new: dict[tuple[str, str], np.ndarray] = {}
        if todo:
            f = np.asarray(extractor.extract(images[todo], show_progress=False), dtype=np.float32)
            new = {keys[i]: f[j] for j, i in enumerate(todo)}
        if not len(images):
            return np.zeros((0, 0), np.float32)
        out = np.stack([new[key] if key in new else self._memo[key] for key in keys])
        for key, v in new.items():
            self._memo[key] = v
        while len(self._memo) > FEATURE_MEMO:
            self._memo.popitem(last=False)
        return out

    def delivered(self, extractor, images, keys, encs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, PSNR, MS-SSIM of correctly received images (cached per image and quality)."""
        store = self.decoded_store(extractor)
        rows: list[np.ndarray | None] = [store.get(k, e.quality) for k, e in zip(keys, encs, strict=True)]
        todo = [i for i, r in enumerate(rows) if r is None]
        if todo:
            shape = images.shape[1:]
            dec = []
            for i in todo:
                d = self.codec.decode(encs[i].payload, shape)
                if d is None:  # the encoder's own stream must decode
                    raise ConfigError(f"codec {self.codec.name!r} cannot decode its own payload")
                dec.append(d)
            dec_arr = np.stack(dec)
            ref = images[todo]
            f = self._features(extractor, dec_arr)
            vals = np.concatenate([f, psnr(ref, dec_arr)[:, None], ms_ssim(ref, dec_arr)[:, None]], axis=1)
            for j, i in enumerate(todo):
                rows[i] = vals[j].astype(np.float32)
                store.put(keys[i], encs[i].quality, rows[i])
        arr = np.stack(rows) if rows else np.zeros((0, 514), np.float32)
        return arr[:, :-2], arr[:, -2].astype(np.float64), arr[:, -1].astype(np.float64)

    def fallback_metrics(self, images, keys, fallback) -> tuple[np.ndarray, np.ndarray]:
        """PSNR and MS-SSIM float64 ``[N]`` of ``fallback`` shown for each image (not sent, or lost with
        ``failure="miss"``), remembered per (image, fallback): the same pair recurs at every MCS of an
        envelope and in every cell of the image (at CBR 1/24 HEVC fits no MCS: 14 MS-SSIM batches per cell).
        Both metrics are per image, whatever the batch."""
        fk = image_key(fallback)
        todo: dict[str, int] = {}
        for i, key in enumerate(keys):
            if (key, fk) not in self._fallback_memo and key not in todo:
                todo[key] = i
        new: dict[tuple[str, str], tuple[float, float]] = {}
        if todo:
            rows = list(todo.values())
            fb = np.broadcast_to(fallback, (len(rows), *fallback.shape))
            p, m = psnr(images[rows], fb), ms_ssim(images[rows], fb)
            new = {(keys[i], fk): (p[j], m[j]) for j, i in enumerate(rows)}
        vals = [new[(key, fk)] if (key, fk) in new else self._fallback_memo[(key, fk)] for key in keys]
        for pair, v in new.items():
            self._fallback_memo[pair] = v
        while len(self._fallback_memo) > FALLBACK_MEMO:
            self._fallback_memo.popitem(last=False)
        out_p = np.array([v[0] for v in vals], dtype=np.float64)
        out_m = np.array([v[1] for v in vals], dtype=np.float64)
        return out_p, out_m

    def flush(self) -> None:
        self.payloads.flush()
        for s in self._decoded.values():
            s.flush()

    # -------------------------------------------------------------------------------------------- cells
    def _assemble(
        self, n: int, kb, extractor, images, keys, encs, ok, received, fallback, t, defer_concealed=False
    ) -> CellResult:
        """Turn per-image link outcomes into retrieved labels and extras (concealed images' features and
        MS-SSIM left to the caller with ``defer_concealed``: :attr:`CellResult.pending`)."""
        sent = np.array([e is not None for e in encs])
        retrieved = np.full((n, TOP_K), -1, dtype=np.int64)
        p = np.full(n, np.nan)
        m = np.full(n, np.nan)
        feats = np.zeros((n, 0), np.float32)
        t0 = time.perf_counter()
        good = np.flatnonzero(sent & ok)
        need = list(good)
        f_all: dict[int, np.ndarray] = {}
        if len(good):
            f, pg, mg = self.delivered(
                extractor, images[good], [keys[i] for i in good], [encs[i] for i in good]
            )
            p[good], m[good] = pg, mg
            for j, i in enumerate(good):
                f_all[i] = f[j]
        bad = np.flatnonzero(sent & ~ok)
        pending: dict[int, np.ndarray] = {}
        if len(bad) and self.failure == "conceal":
            shape = images.shape[1:]
            imgs = []
            for i in bad:
                d = self.codec.decode(received[i], shape)
                imgs.append(fallback if d is None else d)
            imgs_arr = np.stack(imgs)
            p[bad] = psnr(images[bad], imgs_arr)
            if defer_concealed:  # MS-SSIM too: of the envelope's concealed outcomes few win (m stays NaN)
                pending = {int(i): imgs_arr[j] for j, i in enumerate(bad)}
            else:
                m[bad] = ms_ssim(images[bad], imgs_arr)
                f = self._features(extractor, imgs_arr)
                for j, i in enumerate(bad):
                    f_all[i] = f[j]
                need += list(bad)
        shown = np.flatnonzero(~np.isfinite(p))  # not sent, or failed with failure="miss": the fallback
        if len(shown):
            p[shown], m[shown] = self.fallback_metrics(images[shown], [keys[i] for i in shown], fallback)
        t["decode_features_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if need:
            need_arr = np.array(sorted(need))
            feats = np.stack([f_all[i] for i in need_arr])
            retrieved[need_arr] = np.asarray(kb.retrieve_labels(feats, k=TOP_K), dtype=np.int64)[:, :TOP_K]
        t["retrieve_s"] += time.perf_counter() - t0
        bits = np.array([0 if e is None else e.bits for e in encs], dtype=np.int64)
        qp = np.array([np.nan if e is None else e.quality for e in encs], dtype=np.float64)
        extras = {"psnr": p, "ms_ssim": m, "bits": bits, "qp": qp, "sent": sent.astype(np.int64)}
        return CellResult(retrieved=retrieved, extras=extras, timings=dict(t), pending=pending)

    def retrieve(self, extractor, kb, images: np.ndarray) -> np.ndarray:
        """Top-5 KB labels int64 ``[N, 5]`` of decoded images uint8 ``[N, H, W, 3]`` (as cells retrieve)."""
        feats = self._features(extractor, images)
        return np.asarray(kb.retrieve_labels(feats, k=TOP_K), dtype=np.int64)[:, :TOP_K]

    def run_fixed(
        self,
        images,
        image_ids,
        k: int,
        snr_db: float,
        bridge,
        mcs: int,
        extractor,
        kb,
        fallback: np.ndarray,
        defer_concealed: bool = False,
    ) -> CellResult:
        """All images of a cell through the NR link at one MCS (``defer_concealed``: see ``_assemble``)."""
        t: dict[str, float] = defaultdict(float)
        n = len(images)
        keys = [image_key(im) for im in images]
        t0 = time.perf_counter()
        link = self.link(k, mcs)
        t["link_setup_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        encs = self.encode(images, np.array(link.payload_bits), keys)
        t["source_encode_s"] += time.perf_counter() - t0
        sent = np.array([e is not None for e in encs])
        ok = np.zeros(n, dtype=bool)
        bit_errors = np.zeros(n, dtype=np.int64)
        received: dict[int, bytes] = {}
        idx = np.flatnonzero(sent)
        if len(idx):
            tb = link.payload_bits
            bits = np.zeros((len(idx), tb), dtype=np.uint8)  # filler: zeros (known to the receiver)
            for j, i in enumerate(idx):
                b = np.unpackbits(np.frombuffer(encs[i].payload, dtype=np.uint8))
                bits[j, : len(b)] = b
            res = link.run(bits, bridge, np.asarray(image_ids)[idx], snr_db)
            for key, v in res.timings.items():
                t[key] += v
            ok[idx] = res.crc_ok
            bit_errors[idx] = (res.bits != bits).sum(axis=1)
            for j, i in enumerate(idx):
                if not res.crc_ok[j]:
                    received[i] = np.packbits(res.bits[j]).tobytes()
        out = self._assemble(n, kb, extractor, images, keys, encs, ok, received, fallback, t, defer_concealed)
        tb_error = np.where(sent, (~ok).astype(np.float64), np.nan)
        info = np.where(sent, link.payload_bits, 0).astype(np.int64)
        out.extras.update(
            {
                "bit_errors": bit_errors,
                "info_bits": info,
                "tb_error": tb_error,
                "channel_uses": np.full(n, k, dtype=np.int64),
                "mcs_used": np.full(n, float(mcs)),
            }
        )
        self.flush()
        return out

    def run_capacity(
        self, images, image_ids, k: int, snr_db: float, bridge, extractor, kb, fallback: np.ndarray
    ) -> CellResult:
        """Each image gets through iff its bits ≤ its own REs' capacity sum (no link simulated).

        This alone is *not* an upper bound on a fixed-MCS link image by image (a finite-length TB can decode
        above its realization's capacity, and a concealed failure can score by chance); the ``hevc+capacity``
        system takes the :func:`envelope` of this and the fixed-MCS outcomes.
        """

        t: dict[str, float] = defaultdict(float)
        n = len(images)
        keys = [image_key(im) for im in images]
        cap = capacity_bits(bridge, np.asarray(image_ids), k, snr_db)
        t0 = time.perf_counter()
        encs = self.encode(images, np.floor(cap).astype(np.int64), keys)
        t["source_encode_s"] += time.perf_counter() - t0
        ok = np.array([e is not None for e in encs])
        out = self._assemble(n, kb, extractor, images, keys, encs, ok, {}, fallback, t)
        out.extras.update({"capacity_bits": cap, "channel_uses": np.full(n, k, dtype=np.int64)})
        self.flush()
        return out


def envelope(results: list[CellResult], sources: list[float], labels: np.ndarray) -> CellResult:
    """Per image the best of ``results`` (same images, same realizations) by :meth:`CellResult.score`.

    Ties keep the earlier result. Extras missing from a result are NaN there; the extra ``source`` ``[N]``
    names the winning result per image (``sources[j]`` for ``results[j]``). By construction the envelope's
    score is ≥ the score of every input, image by image.
    """
    if not results:
        raise ConfigError("an envelope needs at least one outcome")
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    names = list(dict.fromkeys(name for r in results for name in r.extras))
    best_score = results[0].score(labels)
    pick = np.zeros(n, dtype=np.int64)
    for j, r in enumerate(results[1:], start=1):
        score = r.score(labels)
        take = score > best_score
        pick[take] = j
        best_score = np.where(take, score, best_score)
    rows = np.arange(n)
    retrieved = np.stack([r.retrieved for r in results])[pick, rows]
    extras: dict[str, np.ndarray] = {}
    for name in names:
        cols = [np.asarray(r.extras.get(name, np.full(n, np.nan)), dtype=np.float64) for r in results]
        extras[name] = np.stack(cols)[pick, rows]
    extras["source"] = np.asarray(sources, dtype=np.float64)[pick]
    timings: dict[str, float] = defaultdict(float)
    for r in results:
        for key, v in r.timings.items():
            timings[key] += v
    return CellResult(retrieved=retrieved, extras=extras, timings=dict(timings))
