"""The ``kbsc`` command. Each area adds its sub-commands in its own ``commands.py``.

A command module defines ``register(subparsers)`` which adds parsers whose default ``func`` takes the parsed
arguments and returns an exit code. ``main(argv)`` is callable from tests, like CompressAI's tools.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from kbsc import __version__
from kbsc.errors import ConfigError, KbscError

COMMAND_MODULES = (
    "kbsc.data.commands",  # prepare, info
    "kbsc.bridge.commands",  # ber
    "kbsc.baselines.commands",  # baseline
    "kbsc.semantic.commands",  # train, evaluate
    "kbsc.jscc.commands",  # jscc info/train/eval/export
    "kbsc.experiments.commands",  # run, plot, demo, bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbsc",
        description="Semantic vs conventional image transmission on identical channel realizations.",
    )
    parser.add_argument("--version", action="version", version=f"kbsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        importlib.import_module(mod_name).register(sub)
    return parser


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """The shared ``--data-dir`` option (else ``$KBSC_DATA``, else ``~/.cache/kbsc``)."""
    parser.add_argument(
        "--data-dir", default=None, help="data/cache directory (default: $KBSC_DATA or ~/.cache/kbsc)"
    )


def parse_cbr(text: Any) -> float:
    """A CBR given as '1/24' or '0.0417' → float in (0, 4]; else a one-line :class:`ConfigError`."""
    try:
        value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"CBR must be a number or a fraction like 1/24, got {text!r}") from None
    if not 0 < value <= 4:
        raise ConfigError(f"CBR must be in (0, 4], got {text!r}")
    return value


def cbr_arg(text: str) -> float:
    """:func:`parse_cbr` as an argparse ``type=`` (a bad value is argparse's one-line usage error)."""
    try:
        return parse_cbr(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KbscError as exc:
        print(f"kbsc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbsc: interrupted; finished results are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
