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
from kbsc.util.environment import help_text

COMMAND_MODULES = (
    "kbsc.cli.data",  # prepare, info
    "kbsc.cli.bridge",  # ber
    "kbsc.cli.baselines",  # baseline
    "kbsc.cli.semantic",  # train, evaluate
    "kbsc.cli.jscc",  # jscc info/train/eval/export
    "kbsc.cli.experiments",  # run, plot, demo, bench
    "kbsc.cli.models",  # models list/verify/build
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbsc",
        description="Semantic vs conventional image transmission on identical channel realizations.",
        epilog=help_text(),
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
        if hasattr(args, "device"):  # a torch command: --device or $KBSC_DEVICE checked before any write
            from kbsc.util.device import apply_cli_device  # lazy: `kbsc --help` imports every command module

            apply_cli_device(args.device)
        if getattr(args, "retrain", False):  # --retrain: skip the reference models in this command
            from kbsc.training.reference import retraining  # lazy: `kbsc --help` imports every command module

            with retraining(True):
                return int(args.func(args) or 0)
        return int(args.func(args) or 0)
    except KbscError as exc:
        # one line, always: a message that quotes a library's multi-line text is folded onto it
        text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"kbsc: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbsc: interrupted; finished results are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
