"""The ``kbsc`` command line: the entry point (:mod:`kbsc.cli.main`), shared argument helpers
(:mod:`kbsc.cli.args`) and one module per command group (``data``, ``bridge``, ``baselines``, ``semantic``,
``jscc``, ``experiments``, ``models``). It is the top layer: nothing in the library imports it."""

from kbsc.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
