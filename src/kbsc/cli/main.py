"""The ``kbsc`` command. Each area adds its sub-commands in its own ``commands.py``.

A command module defines ``register(subparsers)`` which adds parsers whose default ``func`` takes the parsed
arguments and returns an exit code. ``main(argv)`` is callable from tests, like CompressAI's tools.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kbsc import __version__
from kbsc.errors import KbscError

COMMAND_MODULES = (
    "kbsc.cli.data",  # prepare, info
    "kbsc.cli.bridge",  # ber
    "kbsc.cli.baselines",  # baseline
    "kbsc.cli.semantic",  # train, evaluate
    "kbsc.cli.jscc",  # jscc info/train/eval/export
    "kbsc.cli.experiments",  # run, plot, demo, bench
    "kbsc.cli.models",  # models list/verify/build
)


# The environment variables kbsc reads (the README has the same table).
ENVIRONMENT = """environment:
  KBSC_DATA        data/cache directory (overridden by --data-dir)
  KBSC_MODELS      reference model store (default: the checkout's models/; empty: none)
  XDG_CACHE_HOME   without KBSC_DATA the data directory is $XDG_CACHE_HOME/kbsc, else ~/.cache/kbsc
  KBSC_QUIET=1     no progress output (bars or log lines), Ray's own messages muted
  OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS, NUMBA_NUM_THREADS
                   threads per grid worker (default 1)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbsc",
        description="Semantic vs conventional image transmission on identical channel realizations.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kbsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        importlib.import_module(mod_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "retrain", False):  # --retrain: skip the reference models in this command
            from kbsc.training.reference import retraining

            with retraining(True):
                return int(args.func(args) or 0)
        return int(args.func(args) or 0)
    except KbscError as exc:
        print(f"kbsc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbsc: interrupted; finished results are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
