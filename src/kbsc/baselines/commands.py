"""Sub-commands of the ``baselines`` area (see :mod:`kbsc.cli`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's sub-commands to the ``kbsc`` parser."""
