"""Compute per system: parameters, FLOPs per image and milliseconds per image, sender and receiver side.

``kbsc bench`` writes one row per system of an experiment (the quick preset by default) at one reference
cell (AWGN, perfect CSI, the preset's highest SNR and CBR, the last MCS of a fixed-MCS system). Each side is a
list of *parts*, each measured on its own:

* ``extractor``: the image feature extractor (sender of the KBSC systems; receiver of every pixel system,
  which retrieves from the knowledge base with the features of the image it decoded);
* ``kb-search``: the flat knowledge-base search, ``2·M·D`` FLOPs per query (M entries of D dimensions);
* ``encoder`` / ``decoder``: a learned model's halves (KBSC codec, pixel JSCC), counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions, 2 FLOPs per
  multiply-add; element-wise operations are not counted);
* ``pq-encode`` / ``pq-decode``: the digital baseline's product quantizer (``2·K·D`` FLOPs per feature for
  the distances to the ``K = 2^nbits`` centroids of each sub-space; decoding is a table look-up, 0 FLOPs);
* ``ldpc-encode`` / ``ldpc-decode``: the NR transport block's LDPC code. *Operation* estimates, not
  floating-point counts: one XOR per non-zero of the lifted parity-check matrix to encode, and
  :data:`LDPC_OPS_PER_EDGE` operations per edge and iteration of min-sum decoding at the configured maximum
  number of iterations (an upper bound: decoding stops early on a satisfied syndrome);
* ``demap``: LLRs of the received QAM symbols (measured; not counted);
* ``hevc-encode`` / ``hevc-decode``: the image codec, an external program (the encoder searches the best
  quality that fits the transport block, several encodes per image). Its operations are **not counted**:
  ``flops`` is null and the part is listed under ``flops_uncounted``; its milliseconds are measured.

The channel itself (the bridge: OFDM, fading, noise, equalization) is the same service for every system and
belongs to neither side. Costs do not depend on trained weights, so the models are built untrained from the
systems' own configurations (same architecture and size as the trained ones); only the image codec's cost
depends on the images, so it runs on the real sender images. Timings: one thread, one batch of ``n`` images
after a warm-up pass, best of ``repeats``; on a GPU (when torch sees one) the torch parts are timed there too.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kbsc.baselines.pipeline import BaselineRunner, image_key
from kbsc.baselines.system import open_bridge
from kbsc.bridge.modulation import demap_llr, map_bits
from kbsc.jscc.metrics import to_tensor
from kbsc.jscc.train import build_model
from kbsc.nrlink.ldpc import build_graph
from kbsc.nrlink.link import shared_link
from kbsc.semantic.quantizer import FeatureQuantizer
from kbsc.semantic.train import build_codec
from kbsc.systems.base import Cell, get_system
from kbsc.util.registry import Registry

__all__ = [
    "LDPC_OPS_PER_EDGE",
    "PROFILERS",
    "Part",
    "complexity_table",
    "format_table",
    "reference_cell",
]

#: operations per edge and iteration of (normalized) min-sum LDPC decoding: variable-to-check subtraction,
#: two comparisons for the two smallest magnitudes, the sign, and the posterior addition
LDPC_OPS_PER_EDGE = 5


@dataclass
class Part:
    """One stage of a side. ``run`` processes the whole batch of ``n`` images (CPU); ``flops`` per image
    (None: not counted, see ``how``); ``to_device(dev)`` returns a batch runner on ``dev`` for torch parts."""

    name: str
    run: Callable[[], Any]
    n: int
    params: int = 0
    flops: int | None = None
    how: str = ""
    to_device: Callable[[str], Callable[[], Any]] | None = None


@dataclass
class Profile:
    sender: list[Part] = field(default_factory=list)
    receiver: list[Part] = field(default_factory=list)
    note: str = ""


# ------------------------------------------------------------------------------------------ helpers
#: parts built once per :func:`complexity_table` call (the extractor, the KB search, a link's code), by key,
#: and the measured row of each part (by ``id``): a part shared by several systems is measured once
_SHARED: dict[Any, Any] = {}


def _shared(key: str, build: Callable[[], Any]) -> Any:
    if key not in _SHARED:
        _SHARED[key] = build()
    return _SHARED[key]


def _n_params(module: Any) -> int:
    if isinstance(module, torch.nn.Module):
        return int(sum(p.numel() for p in module.parameters()))
    return 0


def _params_used(module: torch.nn.Module, fn: Callable[[], Any]) -> int:
    """Parameters of ``module`` that the output of ``fn`` depends on (those that receive a gradient): the
    encoder half of a model that holds both halves counts only the encoder's weights."""
    module.zero_grad(set_to_none=True)
    with torch.enable_grad():
        out = fn()
        if not out.requires_grad:  # no weights on this path (e.g. the uncoded reference)
            return 0
        if out.is_complex():
            out = torch.view_as_real(out)
        out.float().sum().backward()
    n = int(sum(p.numel() for p in module.parameters() if p.grad is not None))
    module.zero_grad(set_to_none=True)
    return n


@torch.no_grad()
def _count_flops(fn: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _time(run: Callable[[], Any], n: int, repeats: int, device: str = "cpu") -> float:
    """Milliseconds per image: best of ``repeats`` timed passes after one warm-up pass."""
    with torch.inference_mode():
        run()
        _sync(device)
        best = float("inf")
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            run()
            _sync(device)
            best = min(best, time.perf_counter() - t0)
    return 1e3 * best / max(n, 1)


def _extractor_module(extractor: Any) -> Any:
    for name in ("net", "model"):
        m = getattr(extractor, name, None)
        if isinstance(m, torch.nn.Module):
            return m
    return None


def _extractor_part(ctx: Any, images: np.ndarray) -> Part:
    return _shared("extractor", lambda: _build_extractor_part(ctx, images))


def _build_extractor_part(ctx: Any, images: np.ndarray) -> Part:
    ext = ctx.extractor
    one = images[:1]
    return Part(
        "extractor",
        lambda: ext.extract(images, batch_size=len(images), show_progress=False),
        len(images),
        params=_n_params(_extractor_module(ext)),
        flops=_count_flops(lambda: ext.extract(one, show_progress=False)),
        how="FlopCounterMode on one image",
    )


def _kb_part(ctx: Any, n: int) -> Part:
    return _shared("kb-search", lambda: _build_kb_part(ctx, n))


def _build_kb_part(ctx: Any, n: int) -> Part:
    kb = ctx.kb
    m, d = int(len(kb)), int(kb.dim)
    q = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return Part(
        "kb-search",
        lambda: kb.retrieve_labels(q, k=5),
        n,
        flops=2 * m * d,
        how=f"flat search: 2·M·D with M={m} entries, D={d}",
    )


def _torch_part(
    name: str, module: torch.nn.Module, call: Callable[[torch.nn.Module, Any], Any], inputs: tuple, n: int
) -> Part:
    """A torch stage: ``call(module, inputs)`` on the batch; FLOPs from the first row of every input."""
    module = module.eval()
    one = tuple(x[:1] for x in inputs)

    def on(device: str) -> Callable[[], Any]:
        mod = copy.deepcopy(module).to(device)  # the CPU parts keep using the CPU copy
        xs = tuple(x.to(device) for x in inputs)
        return lambda: call(mod, xs)

    return Part(
        name,
        lambda: call(module, inputs),
        n,
        params=_params_used(module, lambda: call(module, one)),
        flops=_count_flops(lambda: call(module, one)),
        how="FlopCounterMode on one image",
        to_device=on,
    )


def _ldpc_parts(link: Any, tb_bits: np.ndarray, bridge: Any, image_ids: np.ndarray, snr_db: float) -> tuple:
    """(ldpc-encode, demap, ldpc-decode) parts of an NR link on ``tb_bits`` uint8 ``[n, tb_size]``."""

    enc = link.encoder
    graph = build_graph(enc._encoder)  # one code block's lifted graph
    cbs = int(getattr(enc, "num_cbs", 1))
    edges = graph.num_edges * graph.z * cbs
    n = len(tb_bits)
    with torch.no_grad():
        out = bridge.transmit(map_bits(link._repeat(link.encode(tb_bits)), link.qm), image_ids, snr_db)
        llr = link._combine(demap_llr(out.y, out.noise_var, link.qm))
    iters = int(link.num_iter)
    return (
        Part(
            "ldpc-encode",
            lambda: map_bits(link._repeat(link.encode(tb_bits)), link.qm),
            n,
            flops=edges,
            how=f"estimate: one XOR per non-zero of the lifted parity-check matrix ({cbs} code block(s), "
            f"{edges} edges; CRC not counted); ms include QAM mapping",
        ),
        Part(
            "demap",
            lambda: link._combine(demap_llr(out.y, out.noise_var, link.qm)),
            n,
            how="not counted (element-wise); measured",
        ),
        Part(
            "ldpc-decode",
            lambda: link.decoder(llr),
            n,
            flops=LDPC_OPS_PER_EDGE * edges * iters,
            how=f"estimate: {LDPC_OPS_PER_EDGE} operations per edge and iteration × {edges} edges × "
            f"{iters} iterations (the maximum: an upper bound)",
        ),
    )


def _hevc_parts(system: Any, ctx: Any, images: np.ndarray, budget_bits: int) -> tuple[Part, Part, list]:
    """(hevc-encode, hevc-decode, payloads): the quality search under ``budget_bits`` with a fresh cache each
    pass, and decoding of the payloads it chose."""

    opts = {k: v for k, v in system.options.items() if k in ("codec", "codec_options")}
    keys = [image_key(im) for im in images]
    budgets = np.full(len(images), int(budget_bits))

    def encode() -> list:
        return BaselineRunner(cache_dir=None, **opts).encode(images, budgets, keys)

    encs = encode()
    codec = BaselineRunner(cache_dir=None, **opts).codec
    shape = images.shape[1:]
    payloads = [e.payload for e in encs if e is not None]

    def decode() -> None:
        for p in payloads:
            codec.decode(p, shape)

    how = f"not counted (external {codec.name} codec); measured"
    return (
        Part("hevc-encode", encode, len(images), how=how + " (quality search: several encodes per image)"),
        Part("hevc-decode", decode, max(len(payloads), 1), how=how + f" ({len(payloads)} images fit)"),
        encs,
    )


def _bits_of(encs: list, tb_size: int) -> np.ndarray:
    bits = np.zeros((len(encs), tb_size), dtype=np.uint8)
    for j, e in enumerate(encs):
        if e is not None:
            b = np.unpackbits(np.frombuffer(e.payload, dtype=np.uint8))
            bits[j, : len(b)] = b
    return bits


# ------------------------------------------------------------------------------------------ profilers
#: registry name → ``profile(system, cell, ctx, images, ids) -> Profile``
PROFILERS: Registry[Callable[..., Profile]] = Registry("complexity profile")


@PROFILERS.register("kbsc")
@PROFILERS.register("kbsc-snr")
@PROFILERS.register("kbsc-no-codec")
@PROFILERS.register("kbsc-csi")
def _profile_semantic(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    codec = build_codec(system.train_config(cell, ctx)).eval()
    n = len(images)
    f = torch.from_numpy(np.ascontiguousarray(ctx.extractor.extract(images, show_progress=False)))
    snr = torch.full((n,), float(cell.snr_db))
    with torch.no_grad():
        y = codec.encode(f, snr)
    nv = torch.full(y.shape, 0.1)
    prof = Profile()
    prof.sender = [
        _extractor_part(ctx, images),
        _torch_part("encoder", codec, lambda m, x: m.encode(x[0], x[1]), (f, snr), n),
    ]
    prof.receiver = [
        _torch_part("decoder", codec, lambda m, x: m.decode(x[0], x[1], x[2]), (y, snr, nv), n),
        _kb_part(ctx, n),
    ]
    return prof


@PROFILERS.register("deepjscc")
@PROFILERS.register("deepjscc-adaptive")
@PROFILERS.register("swinjscc")
def _profile_jscc(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    model = build_model(system.train_config(cell, ctx)).eval()
    k = cell.k(ctx.source_dim)
    n = len(images)
    x = to_tensor(images)
    snr = torch.full((n,), float(cell.snr_db))
    with torch.no_grad():
        y = model.encode(x, snr, k)
    nv = torch.full(y.shape, 0.1)
    prof = Profile(note="receiver: the decoded image goes through the extractor and the knowledge base")
    prof.sender = [_torch_part("encoder", model, lambda m, a: m.encode(a[0], a[1], k), (x, snr), n)]
    prof.receiver = [
        _torch_part("decoder", model, lambda m, a: m.decode(a[0], a[1], a[2], k), (y, nv, snr), n),
        _extractor_part(ctx, images),
        _kb_part(ctx, n),
    ]
    return prof


def _conventional(
    system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray, coded: bool, note: str
) -> Profile:
    k = cell.k(ctx.source_dim)
    mcs = int(cell.mcs if cell.mcs is not None else max(system.options.get("mcs_set") or [10]))
    link = shared_link(k, mcs, int(system.options.get("mcs_table", 1)))
    codec_key = repr(sorted((k, repr(v)) for k, v in system.options.items() if k.startswith("codec")))
    enc, dec, encs = _shared(
        f"hevc-{codec_key}-{link.payload_bits}", lambda: _hevc_parts(system, ctx, images, link.payload_bits)
    )
    prof = Profile(note=note)
    prof.sender = [enc]
    prof.receiver = [dec, _extractor_part(ctx, images), _kb_part(ctx, len(images))]
    if coded:
        bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
        le, dm, ld = _shared(
            f"ldpc-{codec_key}-{k}-{mcs}",
            lambda: _ldpc_parts(link, _bits_of(encs, link.payload_bits), bridge, ids, cell.snr_db),
        )
        prof.sender.append(le)
        prof.receiver[:0] = [dm, ld]
    return prof


@PROFILERS.register("hevc+ldpc")
@PROFILERS.register("hevc+ldpc-best")
def _profile_hevc_ldpc(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    note = "" if system.name == "hevc+ldpc" else "the envelope runs every MCS of its set: × their number"
    return _conventional(system, cell, ctx, images, ids, True, note)


@PROFILERS.register("hevc+ldpc-amc")
def _profile_amc(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    note = "at the reference MCS; the receiver's MCS choice (MIESM on its channel estimate) is not counted"
    return _conventional(system, cell, ctx, images, ids, True, note)


@PROFILERS.register("hevc+ldpc-harq")
def _profile_harq(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    note = (
        "one transmission at the reference MCS; a retransmission decodes the combined buffer again "
        "(at most max_transmissions decodes), and the MCS choice is not counted"
    )
    return _conventional(system, cell, ctx, images, ids, True, note)


@PROFILERS.register("hevc+capacity")
def _profile_hevc_capacity(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    note = "genie: a capacity-achieving code (not realizable, not counted) at the reference MCS's budget"
    return _conventional(system, cell, ctx, images, ids, False, note)


def _digital(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray, coded: bool) -> Profile:
    k = system.k_of(cell, ctx)
    link = system.link(k, int(cell.mcs or 10))
    dim = int(ctx.kb.dim)
    spec = system.spec_for(link.payload_bits, dim)
    rng = np.random.default_rng(0)
    q = FeatureQuantizer(spec, rng.standard_normal(dim << spec.nbits).astype(np.float32))  # cost only
    feats = np.ascontiguousarray(ctx.extractor.extract(images, show_progress=False), dtype=np.float32)
    code = q.encode(feats)
    n = len(images)
    prof = Profile(note=f"PQ {spec.label()}: {q.bits} bits of a {link.payload_bits}-bit transport block")
    prof.sender = [
        _extractor_part(ctx, images),
        Part(
            "pq-encode",
            lambda: q.encode(feats),
            n,
            flops=2 * (1 << spec.nbits) * dim,
            how="2·K·D: distances to K centroids in every sub-space",
        ),
    ]
    prof.receiver = [
        Part("pq-decode", lambda: q.decode(code), n, flops=0, how="table look-up"),
        _kb_part(ctx, n),
    ]
    if coded:
        from kbsc.baselines.system import open_bridge  # lazy: only this path needs it

        tb = np.zeros((n, link.payload_bits), dtype=np.uint8)
        tb[:, : q.bits] = code
        bridge = open_bridge(cell.channel, cell.csi, cell.seed, ctx.options.get("grid"))
        le, dm, ld = _ldpc_parts(link, tb, bridge, ids, cell.snr_db)
        prof.sender.append(le)
        prof.receiver[:0] = [dm, ld]
    else:
        prof.note += "; genie: a capacity-achieving code (not realizable, not counted)"
    return prof


@PROFILERS.register("kbsc-digital")
@PROFILERS.register("kbsc-digital-best")
def _profile_digital(system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray) -> Profile:
    return _digital(system, cell, ctx, images, ids, True)


@PROFILERS.register("kbsc-digital-capacity")
def _profile_digital_capacity(
    system: Any, cell: Any, ctx: Any, images: np.ndarray, ids: np.ndarray
) -> Profile:
    return _digital(system, cell, ctx, images, ids, False)


# ------------------------------------------------------------------------------------------ table
def reference_cell(cfg: Any, entry: Any) -> Any:
    """The cell a system is profiled at: AWGN, the first CSI, the highest SNR and CBR of the entry (its
    own lists where it has them), its last MCS, seed 0."""

    cbrs = entry.cbr or cfg.cbr
    snrs = entry.snr_db or cfg.snr_db
    mcs = entry.mcs[-1] if entry.mcs else None
    csi = (entry.csi or cfg.csi)[0]
    return Cell(
        entry.name,
        cfg.dataset.name,
        cfg.extractor.name,
        "awgn",
        csi,
        float(max(snrs)),
        float(max(cbrs)),
        0,
        mcs,
    )


def _side(parts: list[Part], repeats: int, devices: list[str]) -> dict[str, Any]:
    rows = []
    for p in parts:
        if id(p) in _SHARED:  # the same part in an earlier row: measured once
            rows.append(dict(_SHARED[id(p)]))
            continue
        row: dict[str, Any] = {
            "part": p.name,
            "params": p.params,
            "flops": p.flops,
            "how": p.how,
            "ms_per_image_cpu": round(_time(p.run, p.n, repeats), 4),
        }
        for dev in devices:
            if p.to_device is not None:
                try:
                    row[f"ms_per_image_{dev.split(':')[0]}"] = round(
                        _time(p.to_device(dev), p.n, repeats, dev), 4
                    )
                except Exception as exc:  # a part that cannot run there: its CPU time stands in, and says so
                    row[f"error_{dev.split(':')[0]}"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        _SHARED[id(p)] = row
        rows.append(row)
    out: dict[str, Any] = {
        "params": int(sum(r["params"] for r in rows)),
        # None where no part of the side could be counted (e.g. only the external image codec)
        "flops": int(sum(r["flops"] or 0 for r in rows)) if any(r["flops"] for r in rows) else None,
        "flops_uncounted": [r["part"] for r in rows if r["flops"] is None],
        "ms_per_image_cpu": round(sum(r["ms_per_image_cpu"] for r in rows), 4),
        "parts": rows,
    }
    for dev in devices:
        key = f"ms_per_image_{dev.split(':')[0]}"  # the torch parts there, the others on the CPU
        out[key] = round(sum(r.get(key, r["ms_per_image_cpu"]) for r in rows), 4)
    return out


def complexity_table(
    cfg: Any, ctx: Any, n: int = 64, repeats: int = 3, threads: int = 1, devices: list[str] | None = None
) -> list[dict[str, Any]]:
    """One row per system label of ``cfg`` on ``ctx`` (its extractor, knowledge base and sender images;
    the first ``n`` images are timed): ``{system, registry_name, cell, k, params, sender, receiver, note}``
    where each side is ``{params, flops, flops_uncounted, ms_per_image_cpu[, ms_per_image_cuda], parts}``.
    ``devices``: extra torch devices to time the torch parts on (default: ``cuda`` when torch sees a GPU).
    A system without a profile gets a row with ``error``."""

    if devices is None:
        devices = ["cuda"] if torch.cuda.is_available() else []
    images = np.ascontiguousarray(ctx.images[:n])
    ids = np.asarray(ctx.image_ids[:n])
    sub = dataclasses.replace(
        ctx, images=images, image_ids=ids, labels=ctx.labels[:n], features=ctx.features[:n]
    )
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    _SHARED.clear()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for entry in cfg.systems:
            label = entry.display
            if label in seen:
                continue
            seen.add(label)
            cell = reference_cell(cfg, entry)
            row: dict[str, Any] = {
                "system": label,
                "registry_name": entry.name,
                "cell": {
                    "channel": cell.channel,
                    "csi": cell.csi,
                    "snr_db": cell.snr_db,
                    "cbr": cell.cbr,
                    "mcs": cell.mcs,
                },
                "k": cell.k(sub.source_dim),
            }
            if entry.name not in PROFILERS:
                row["error"] = f"no complexity profile for {entry.name!r}"
                rows.append(row)
                continue
            system = get_system(entry.name, **entry.options)
            prof = PROFILERS.get(entry.name)(system, cell, sub, images, ids)
            row["sender"] = _side(prof.sender, repeats, devices)
            row["receiver"] = _side(prof.receiver, repeats, devices)
            row["params"] = row["sender"]["params"] + row["receiver"]["params"]
            if prof.note:
                row["note"] = prof.note
            rows.append(row)
    finally:
        torch.set_num_threads(old)
        _SHARED.clear()
    return rows


def _si(v: float | None) -> str:
    if v is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`complexity_table`'s rows (``*``: the side has uncounted parts)."""
    gpu = any("ms_per_image_cuda" in (r.get("sender") or {}) for r in rows)
    head = ["system", "params", "sender FLOPs", "receiver FLOPs", "sender ms (CPU)", "receiver ms (CPU)"]
    if gpu:
        head += ["sender ms (GPU)", "receiver ms (GPU)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['system']} | " + " | ".join(["-"] * (len(head) - 1)) + " |")
            continue
        s, v = r["sender"], r["receiver"]
        cells = [
            r["system"],
            _si(r["params"]),
            _si(s["flops"]) + (" *" if s["flops_uncounted"] else ""),
            _si(v["flops"]) + (" *" if v["flops_uncounted"] else ""),
            f"{s['ms_per_image_cpu']:.3g}",
            f"{v['ms_per_image_cpu']:.3g}",
        ]
        if gpu:
            cells += [f"{s.get('ms_per_image_cuda', 0):.3g}", f"{v.get('ms_per_image_cuda', 0):.3g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
