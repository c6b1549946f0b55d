"""Argument helpers shared by the command-group modules of :mod:`kbsc.cli`; imports nothing heavy.

Kept apart from :mod:`kbsc.cli` so that command modules do not import the module that imports them.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Any

from kbsc.errors import ConfigError

__all__ = ["RETRAIN_HELP", "add_data_dir", "add_retrain", "cbr_arg", "parse_cbr"]


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """The shared ``--data-dir`` option (else ``$KBSC_DATA``, else ``$XDG_CACHE_HOME/kbsc``, else
    ``~/.cache/kbsc``)."""
    from kbsc.util.paths import DATA_DIR_HELP

    parser.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)


RETRAIN_HELP = (
    "train every model into the data directory instead of loading the committed reference models "
    "(models/, see `kbsc models list`); models already finished in the data directory are still reused"
)


def add_retrain(parser: argparse.ArgumentParser) -> None:
    """The shared ``--retrain`` option (``kbsc.cli.main`` applies it to the whole process)."""
    parser.add_argument("--retrain", action="store_true", help=RETRAIN_HELP)


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
