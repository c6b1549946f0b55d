"""``kbsc train`` (train the semantic codecs) and ``kbsc evaluate`` (accuracy per SNR and CBR with intervals).

Both read an optional YAML file (``--config``, safe loader; unknown keys are a one-line error) whose keys
are the long option names below with ``_`` for ``-``; flags given on the command line override the file.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from kbsc.cli.args import parse_cbr
from kbsc.errors import ConfigError

# YAML key → (type, is_list)
_KEYS: dict[str, tuple[type, bool]] = {
    "variant": (str, True),
    "cbr": (str, True),
    "channel": (str, True),
    "csi": (str, True),
    "snr": (float, True),
    "seed": (int, False),
    "setting": (str, False),
    "max_steps": (int, False),
    "eval_every": (int, False),
    "lr": (float, False),
    "patience": (int, False),
    "batch_size": (int, False),
    "contrastive_weight": (float, False),
    "temperature": (float, False),
    "power_norm": (str, False),
    "train_snrs": (float, True),
    "val_snrs": (float, True),
    "dataset": (str, False),
    "extractor": (str, False),
    "n_images": (int, False),
}
_DEFAULTS: dict[str, Any] = {
    "variant": ["kbsc"],
    "cbr": ["1/48", "1/24"],
    "channel": ["awgn"],
    "csi": ["perfect"],
    "snr": [-7, -4, 0, 4, 7, 10],
    "seed": 0,
    "setting": "quick",
    "dataset": "synthetic100",
    "extractor": "standin",
    "n_images": 1000,
}
_TRAIN_FIELDS = (
    "setting",
    "max_steps",
    "eval_every",
    "lr",
    "patience",
    "batch_size",
    "contrastive_weight",
    "temperature",
    "power_norm",
    "train_snrs",
    "val_snrs",
)


def load_yaml(path: str) -> dict[str, Any]:
    """Read a train/evaluate YAML file; unknown keys and wrong types are one-line :class:`ConfigError`."""
    from kbsc.util.safe_yaml import load_yaml_file  # lazy: `kbsc --help` imports every command module

    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}; allowed: {', '.join(_KEYS)}")
        typ, is_list = _KEYS[key]
        values = value if isinstance(value, list) else [value]
        if not is_list and isinstance(value, list):
            raise ConfigError(f"{path}: key {key!r} takes one value, got a list")
        try:
            conv = [v if typ is str and isinstance(v, str) else typ(v) for v in values]
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: key {key!r} must be {typ.__name__}, got {value!r}") from None
        if isinstance(value, bool) and typ is not str:
            raise ConfigError(f"{path}: key {key!r} must be {typ.__name__}, got {value!r}")
        out[key] = conv if is_list else conv[0]
    return out


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    merged = dict(_DEFAULTS)
    if getattr(args, "config", None):
        merged.update(load_yaml(args.config))
    for key in _KEYS:
        value = getattr(args, key, None)
        if value is not None:
            merged[key] = value
    merged["cbr"] = [parse_cbr(c) for c in merged["cbr"]]
    return merged


def _common(p: argparse.ArgumentParser, evaluate: bool) -> None:
    from kbsc.cli.args import add_data_dir, add_device  # lazy: `kbsc --help` imports every command module

    p.add_argument(
        "--config", default=None, help="YAML file with any of the options below (flags override it)"
    )
    p.add_argument(
        "--variant",
        nargs="+",
        default=None,
        help="kbsc (faithful), kbsc-snr, kbsc-csi (ours)"
        + (", kbsc-no-codec" if evaluate else "")
        + " (default kbsc)",
    )
    p.add_argument("--cbr", nargs="+", default=None, help="CBRs, e.g. 1/48 1/24 (default 1/48 1/24)")
    p.add_argument(
        "--channel",
        nargs="+",
        default=None,
        help="bridge channels or labels: awgn rayleigh tdl-a..tdl-e cdl-a..cdl-e authors-rayleigh "
        "authors-awgn, tdl-a[speed=30] (default awgn)",
    )
    p.add_argument(
        "--csi", nargs="+", default=None, help="perfect ls-nearest ls-linear lmmse (default perfect)"
    )
    p.add_argument("--seed", type=int, default=None, help="training seed (= evaluation seed), default 0")
    p.add_argument(
        "--setting",
        default=None,
        help="quick (default; lr 3e-3, ≤ 1,500 steps) or paper (lr 1e-4, ≤ 40,000 steps)",
    )
    p.add_argument(
        "--max-steps", type=int, default=None, help="override the setting's ceiling in optimizer steps"
    )
    p.add_argument("--lr", type=float, default=None, help="override the setting's learning rate")
    p.add_argument(
        "--contrastive-weight",
        type=float,
        default=None,
        help="weight of the InfoNCE retrieval term (default 0 = the paper's MSE only)",
    )
    p.add_argument("--power-norm", default=None, help="image (default) or batch (the authors')")
    p.add_argument("--dataset", default=None, help="dataset (default synthetic100)")
    p.add_argument("--extractor", default=None, help="feature extractor (default standin)")
    add_data_dir(p)
    add_device(p)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``evaluate`` to the ``kbsc`` parser."""
    from kbsc.cli.args import add_retrain  # lazy: `kbsc --help` imports every command module

    p = sub.add_parser(
        "train",
        help="train KBSC codecs through the bridge (one per variant, CBR, channel, CSI)",
        description="Train (or load from the cache) the KBSC feature codecs on the training split, "
        "through the bridge channel, selected on validation accuracy at fixed SNRs.",
    )
    _common(p, evaluate=False)
    add_retrain(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="semantic accuracy of the KBSC systems per SNR and CBR",
        description="Send the sender half through encoder → bridge → decoder → KB retrieval and "
        "print top-1/top-5 accuracy with 95%% Wilson intervals per (SNR, CBR). Trains missing "
        "models first.",
    )
    _common(p, evaluate=True)
    p.add_argument("--snr", nargs="+", type=float, default=None, help="SNRs in dB (default -7 -4 0 4 7 10)")
    p.add_argument("--n-images", type=int, default=None, help="sender images, class-balanced (default 1000)")
    p.set_defaults(func=cmd_evaluate)


def _experiment(s: dict[str, Any], snrs: list[float], n_images: int) -> Any:
    """The experiment config of the settings: the variants over channel × CSI × CBR × SNR. No grid block
    (``grid: null``): the codecs keep the training keys these commands have always given them."""
    from kbsc.experiments.config import parse_config  # lazy: `kbsc --help` imports every command module

    opts = {k: s[k] for k in _TRAIN_FIELDS if s.get(k) is not None}
    data = {
        "name": "evaluate",
        "dataset": {"name": s["dataset"]},
        "extractor": {"name": s["extractor"]},
        "n_images": n_images,
        "seeds": [s["seed"]],
        "snr_db": snrs,
        "cbr": s["cbr"],
        "channels": s["channel"],
        "csi": s["csi"],
        "grid": None,
        "training": {k: s[k] for k in ("setting", "max_steps") if s.get(k) is not None},
        "systems": [{"name": v, "options": {} if v == "kbsc-no-codec" else opts} for v in s["variant"]],
    }
    return parse_config(data, source="settings")


def _context(s: dict[str, Any], data_dir: str | None, n_images: int) -> Any:
    """The context the experiment runner builds for these settings (once per process)."""
    from kbsc.cli.oneshot import context_of  # lazy: `kbsc --help` imports every command module

    return context_of(_experiment(s, [0.0], n_images), data_dir)


def _cells(s: dict[str, Any], snrs: list[float], ctx: Any) -> list[tuple[str, Any]]:
    from kbsc.systems.base import Cell  # lazy: `kbsc --help` imports every command module

    return [
        (
            v,
            Cell(
                system=v,
                dataset=s["dataset"],
                extractor=s["extractor"],
                channel=ch,
                csi=csi,
                snr_db=snr,
                cbr=cbr,
                seed=s["seed"],
            ),
        )
        for v in s["variant"]
        for ch in s["channel"]
        for csi in s["csi"]
        for cbr in s["cbr"]
        for snr in snrs
    ]


def _systems(s: dict[str, Any]) -> dict[str, Any]:
    from kbsc.semantic.system import SemanticSystem  # lazy: `kbsc --help` imports every command module
    from kbsc.semantic.train import TrainConfig  # lazy: `kbsc --help` imports every command module
    from kbsc.systems.base import get_system  # lazy: `kbsc --help` imports every command module

    opts = {k: s[k] for k in _TRAIN_FIELDS if s.get(k) is not None}
    opts.update({k: tuple(opts[k]) for k in ("train_snrs", "val_snrs") if k in opts})
    TrainConfig(**opts).resolved()  # fail on a bad setting before any data is prepared
    out = {}
    for v in s["variant"]:
        system = get_system(v, **({} if v == "kbsc-no-codec" else opts))
        if not isinstance(system, SemanticSystem):
            raise ConfigError(
                f"{v!r} is not a semantic system; choose kbsc, kbsc-snr, kbsc-csi or kbsc-no-codec"
            )
        out[v] = system
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from kbsc.util.cbr import cbr_label  # lazy: `kbsc --help` imports every command module

    s = _settings(args)
    systems = _systems(s)
    ctx = _context(s, args.data_dir, 1)
    print(
        f"{'variant':<10} {'cbr':>6} {'k':>5} {'channel':<16} {'csi':<10} {'steps':>6} {'best':>6} "
        f"{'val_acc':>7} {'wall_s':>7} {'converged':>9}  checkpoint"
    )
    seen = set()
    for variant, cell in _cells(s, [0.0], ctx):
        system = systems[variant]
        cfg = system.train_config(cell, ctx)
        if cfg.hash() in seen:
            continue
        seen.add(cfg.hash())
        t0 = time.perf_counter()
        system.prepare(ctx, [cell])
        res = system.train_log.get((cfg.hash(),))
        if res is None:
            print(
                f"{variant:<10} {cbr_label(cell.cbr):>6} {cfg.k:>5} {cell.channel:<16} {cell.csi:<10} "
                "(no weights)"
            )
            continue
        state = "cached" if res.cached else f"{time.perf_counter() - t0:.1f}"
        print(
            f"{variant:<10} {cbr_label(cell.cbr):>6} {cfg.k:>5} {cell.channel:<16} {cell.csi:<10} "
            f"{res.report.steps:>6} {res.best_step:>6} {res.best_val_acc:>7.3f} {state:>7} "
            f"{str(res.report.converged).lower():>9}  {res.path}"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """One line per (variant, channel, CSI, CBR, SNR), run through the experiment runner."""
    import numpy as np

    from kbsc.cli.oneshot import context_of, run_one_shot  # lazy: `kbsc --help` imports every command module
    from kbsc.experiments.stats import wilson  # lazy: `kbsc --help` imports every command module
    from kbsc.util.cbr import cbr_label  # lazy: `kbsc --help` imports every command module

    s = _settings(args)
    n = int(s["n_images"])
    if n < 1:
        raise ConfigError(f"--n-images must be ≥ 1, got {n}")
    _systems(s)  # one-line errors for the variants and their training settings, before any data work
    snrs = [float(x) for x in s["snr"]]
    cfg = _experiment(s, snrs, n)
    ctx = context_of(cfg, args.data_dir)
    shot = run_one_shot(cfg, args.data_dir)
    clean = (
        np.asarray(ctx.kb.retrieve_labels(ctx.features, k=5)) if hasattr(ctx.kb, "retrieve_labels") else None
    )
    if clean is not None:
        c1 = int((clean[:, 0] == ctx.labels).sum())
        lo, hi = wilson(c1, n)
        print(f"clean retrieval (no channel): top-1 {c1 / n:.3f} [{lo:.3f}, {hi:.3f}]  n={n}")
    print(
        f"{'variant':<14} {'channel':<16} {'csi':<10} {'cbr':>6} {'k':>5} {'snr_db':>6} {'top1':>6} "
        f"{'95% CI':>15} {'top5':>6}  fingerprint"
    )
    for variant, cell in _cells(s, snrs, ctx):
        label = cfg.channels[s["channel"].index(cell.channel)]  # the runner's canonical channel label
        r = shot.row(system=variant, channel=label, csi=cell.csi, cbr=cell.cbr, snr_db=cell.snr_db)
        print(
            f"{variant:<14} {cell.channel:<16} {cell.csi:<10} {cbr_label(cell.cbr):>6} "
            f"{cell.k(ctx.source_dim):>5} {cell.snr_db:>6g} {r.acc_top1:>6.3f} "
            f"[{r.acc_top1_lo:.3f}, {r.acc_top1_hi:.3f}] {r.acc_top5:>6.3f}  {r.fingerprint[:12]}"
        )
    return 0
