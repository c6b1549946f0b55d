"""Sub-commands of the ``experiments`` area: ``run``, ``plot``, ``compare``, ``demo``, ``bench``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_override_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, value in YAML (e.g. --set 'snr_db=[0,10]' --set dataset.root=/x)",
    )
    p.add_argument("--n-images", type=int, default=None, help="override n_images")
    p.add_argument("--seeds", default=None, help="override seeds: a comma list (0,1,2)")


def _add_allow_code(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-code",
        action="store_true",
        help="allow a config that imports code or runs programs (plugins, module, bpgenc/bpgdec paths; "
        "docs/security.md); use only with configs you trust",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    from kbsc.cli.args import (  # lazy: `kbsc --help` imports every command module
        add_data_dir,
        add_device,
        add_retrain,
    )

    _add_override_options(p)
    p.add_argument("--backend", default="local", help="execution backend: local (default), serial, ray")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument(
        "--ray-address", default=None, help="Ray cluster address for --backend ray (default: local)"
    )
    p.add_argument(
        "--force", action="store_true", help="run into DIR even if it holds another config's results"
    )
    _add_allow_code(p)
    add_retrain(p)
    add_data_dir(p)
    add_device(p)


def _add_allow_dirty(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="write under the repository's results/ from a tree with uncommitted changes (marked +dirty)",
    )


def _overrides(args: argparse.Namespace) -> list[str]:
    from kbsc.errors import ConfigError  # lazy: `kbsc --help` imports every command module

    ov = list(args.overrides)
    if args.n_images is not None:
        ov.append(f"n_images={args.n_images}")
    if args.seeds is not None:
        try:
            seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
        except ValueError:
            raise ConfigError(
                f"--seeds {args.seeds!r}: give integers separated by commas, e.g. 0,1,2"
            ) from None
        ov.append(f"seeds={seeds}")
    return ov


def _print_banner(cfg, args: argparse.Namespace) -> None:
    """The estimated wall time of a long grid, before it starts (stderr; nothing under KBSC_QUIET)."""
    import os

    from kbsc.tools.estimate import run_banner  # lazy: `kbsc --help` imports every command module
    from kbsc.util.progress import is_quiet  # lazy: `kbsc --help` imports every command module

    if is_quiet() or args.backend == "ray":
        return
    line = run_banner(cfg, args.out, args.workers or os.cpu_count() or 1)
    if line:
        print(line, file=sys.stderr, flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from kbsc.experiments.config import load_config  # lazy: `kbsc --help` imports every command module
    from kbsc.util.gitstate import guard_results_path  # lazy: `kbsc --help` imports every command module

    guard_results_path([args.out], args.allow_dirty)
    cfg = load_config(args.config, _overrides(args), allow_code=args.allow_code)
    from kbsc.experiments.runner import run_experiment  # after the config: a bad one is refused at once

    _print_banner(cfg, args)
    res = run_experiment(
        cfg,
        args.out,
        backend=args.backend,
        workers=args.workers,
        ray_address=args.ray_address,
        data_dir=args.data_dir,
        force=args.force,
        allow_code=args.allow_code,
        retrain=args.retrain,
    )
    print(
        f"{res.n_cells} cells ({res.n_done_before} already done, {res.n_computed} computed) in "
        f"{res.wall_s:.1f} s -> {Path(args.out) / 'results.csv'}"
    )
    for line in res.model_lines():
        print(line)
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    import os

    from kbsc.errors import ConfigError  # lazy: `kbsc --help` imports every command module
    from kbsc.experiments.config import load_config  # lazy: `kbsc --help` imports every command module
    from kbsc.tools.estimate import (  # lazy: `kbsc --help` imports every command module
        done_cells,
        estimate_grid,
        format_estimate,
        load_bench,
    )

    cfg = load_config(args.config, _overrides(args), allow_code=args.allow_code)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    report, path = load_bench(args.bench)
    est = estimate_grid(cfg, report, workers, done_cells(cfg, args.out))
    print(format_estimate(cfg, est, report, path))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from kbsc.experiments.plot import (  # lazy: `kbsc --help` imports every command module
        make_figures,
        summary_table,
    )
    from kbsc.experiments.results import load_results  # lazy: `kbsc --help` imports every command module

    results = load_results(Path(args.dir))
    out = Path(args.out) if args.out else Path(args.dir) / "figures"
    paths = make_figures(results, out)
    print(summary_table(results))
    print(f"{len(paths)} figure files in {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from kbsc.experiments.results import load_outcomes  # lazy: `kbsc --help` imports every command module
    from kbsc.experiments.stats import compare_systems  # lazy: `kbsc --help` imports every command module
    from kbsc.util.cbr import cbr_label  # lazy: `kbsc --help` imports every command module

    cols = [
        "system",
        "dataset",
        "extractor",
        "channel",
        "csi",
        "snr_db",
        "cbr",
        "mcs",
        "seed",
        "image_id",
        "correct_top1",
    ]
    table = compare_systems(load_outcomes(Path(args.dir), columns=cols), args.system_a, args.system_b)
    if args.csv:
        table.to_csv(args.csv, index=False)
    show = table.copy()
    for c in ("acc_a", "acc_b", "diff", "diff_lo", "diff_hi"):
        if c in show:
            show[c] = (100 * show[c]).round(1)
    if "cbr" in show:
        show["cbr"] = show["cbr"].map(cbr_label)  # 1/24, as `kbsc plot` and the figures write it
    if "p_value" in show:
        show["p_value"] = show["p_value"].map(lambda p: f"{p:.2g}")
    print(
        f"paired comparison {args.system_a} vs {args.system_b} (accuracies and difference in %, "
        "95 % Newcombe interval, exact McNemar p):"
    )
    with __import__("pandas").option_context("display.width", 200, "display.max_rows", 1000):
        print(show.to_string(index=False))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from kbsc.experiments.config import load_config  # lazy: `kbsc --help` imports every command module
    from kbsc.util.gitstate import guard_results_path  # lazy: `kbsc --help` imports every command module

    guard_results_path([args.out], args.allow_dirty)
    cfg = load_config(args.config, _overrides(args), allow_code=args.allow_code)
    from kbsc.experiments.plot import (  # lazy: `kbsc --help` imports every command module
        make_figures,
        summary_table,
    )
    from kbsc.experiments.runner import run_experiment  # lazy: `kbsc --help` imports every command module

    _print_banner(cfg, args)
    res = run_experiment(
        cfg,
        args.out,
        backend=args.backend,
        workers=args.workers,
        ray_address=args.ray_address,
        data_dir=args.data_dir,
        force=args.force,
        allow_code=args.allow_code,
        retrain=args.retrain,
    )
    figs = Path(args.out) / "figures"
    paths = make_figures(res.results, figs)
    snrs = sorted(res.results["snr_db"].unique())
    print(summary_table(res.results, snrs=[snrs[0], snrs[-1]] if snrs else None))
    print(
        f"\n{res.n_cells} cells in {res.wall_s:.0f} s; tables: {Path(args.out) / 'results.csv'}; "
        f"{len(paths)} figure files in {figs}"
    )
    for line in res.model_lines():
        print(line)
    if args.config == "quick" and Path("results/quick/results.parquet").is_file():  # a checkout's own
        print("committed reference results of this preset (for comparison): results/quick/")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from kbsc.tools.bench import run_bench  # lazy: `kbsc --help` imports every command module
    from kbsc.util.gitstate import guard_results_path  # lazy: `kbsc --help` imports every command module

    guard_results_path([args.json], args.allow_dirty)
    run_bench(json_path=args.json, quick=args.quick, data_dir=args.data_dir, stream=sys.stdout)
    return 0


def _cmd_readme_results(args: argparse.Namespace) -> int:
    from kbsc.tools.readme_block import run  # lazy: `kbsc --help` imports every command module

    return run(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the ``kbsc`` parser."""
    from kbsc.cli.args import add_data_dir, add_device  # lazy: `kbsc --help` imports every command module

    p = sub.add_parser("run", help="run (or resume) an experiment grid")
    p.add_argument("config", help="YAML config or preset name (quick, paper)")
    p.add_argument("--out", required=True, help="results directory")
    _add_run_options(p)
    _add_allow_dirty(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "estimate",
        help="how long a grid will take here, from a bench report (nothing is run)",
        description="Estimate the wall time of `kbsc run CONFIG` before running it: every cell not yet "
        "stored under --out is priced at the per-image cost the bench measured for its system and nearest "
        "CBR (--bench, else $KBSC_BENCH, else results/bench.json here or in a parent folder), split by "
        "system. Training and one-off preparation are not included.",
    )
    p.add_argument("config", help="YAML config or preset name (quick, paper)")
    _add_override_options(p)
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument("--out", default=None, help="results directory: cells stored there are not counted")
    p.add_argument(
        "--bench",
        default=None,
        help="bench JSON of `kbsc bench --json` (default: $KBSC_BENCH, else results/bench.json here/above)",
    )
    _add_allow_code(p)
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("plot", help="figures and a summary table from a results directory")
    p.add_argument("dir", help="results directory of `kbsc run`")
    p.add_argument("--out", default=None, help="figure directory (default: DIR/figures)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("compare", help="paired comparison of two systems per cell (McNemar, Newcombe)")
    p.add_argument("dir", help="results directory of `kbsc run`")
    p.add_argument("system_a", help="system name, or NAME@MCS")
    p.add_argument("system_b", help="system name, or NAME@MCS")
    p.add_argument("--csv", default=None, help="also write the table to this CSV file")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "demo",
        help="run the quick preset, plot it and print a summary",
        description="Run the quick preset end to end (dataset, extractor, features, knowledge base, "
        "training, grid, figures) and print a summary. Models that the repository ships as reference models "
        "(models/: verified by file hash, dataset fingerprint and configuration; see `kbsc models list`) are "
        "loaded instead of trained when they match; --retrain trains them here instead.",
    )
    p.add_argument("--config", default="quick", help="preset or YAML (default: quick)")
    p.add_argument("--out", default="runs/quick", help="results directory (default: runs/quick)")
    _add_run_options(p)
    _add_allow_dirty(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "readme-results", help="fill the results blocks of the README and docs/ from results/ (--check)"
    )
    p.add_argument("--readme", default="README.md", help="the README to fill (default: README.md)")
    p.add_argument("--docs", default="docs", help="documentation pages to fill too (default: docs)")
    p.add_argument("--results", default="results/quick", help="results directory (default: results/quick)")
    p.add_argument("--bench", default="results/bench.json", help="bench JSON (default: results/bench.json)")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a block differs")
    p.set_defaults(func=_cmd_readme_results)

    p = sub.add_parser("bench", help="speed measurements (decoders, link, semantic path, grid)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--quick", action="store_true", help="a fast smoke version with small sizes")
    _add_allow_dirty(p)
    add_data_dir(p)
    add_device(p)
    p.set_defaults(func=_cmd_bench)
