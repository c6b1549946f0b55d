"""Argument helpers shared by the command-group modules of :mod:`kbsc.cli`; imports nothing heavy.

Kept apart from :mod:`kbsc.cli` so that command modules do not import the module that imports them.
"""

from __future__ import annotations

import argparse
from typing import Any

from kbsc.errors import ConfigError
from kbsc.util.cbr import cbr_value

__all__ = ["RETRAIN_HELP", "add_data_dir", "add_device", "add_retrain", "cbr_arg", "parse_cbr"]


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """The shared ``--data-dir`` option (else ``$KBSC_DATA``, else ``$XDG_CACHE_HOME/kbsc``, else
    ``~/.cache/kbsc``)."""
    from kbsc.util.paths import DATA_DIR_HELP  # lazy: `kbsc --help` imports every command module

    parser.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)


def add_device(parser: argparse.ArgumentParser) -> None:
    """The shared ``--device`` option (``kbsc.cli.main`` checks and applies it before the command runs)."""
    from kbsc.util.device import DEVICE_HELP  # lazy: `kbsc --help` imports every command module

    parser.add_argument("--device", default=None, metavar="DEVICE", help=DEVICE_HELP)


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
        return cbr_value(text)
    except ValueError as exc:
        raise ConfigError(f"CBR {exc}") from None


def cbr_arg(text: str) -> float:
    """:func:`parse_cbr` as an argparse ``type=`` (a bad value is argparse's one-line usage error)."""
    try:
        return parse_cbr(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
