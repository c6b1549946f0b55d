"""The environment variables kbsc reads: one list, printed by ``kbsc --help`` and rendered into the docs.

Each entry names the variable(s), what they change and the default. :func:`help_text` is the ``--help``
epilog; :func:`markdown_table` is the table of the documentation's reference page (generated at build time,
so the two cannot differ). A module that reads a new variable adds it here; a test checks that every
``KBSC_*`` name the source reads is listed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

__all__ = ["ENVIRONMENT", "EnvVar", "help_text", "markdown_table"]


@dataclass(frozen=True)
class EnvVar:
    """One variable (or a group read together): ``names``, a one-line ``summary`` for ``--help`` and the
    longer ``doc`` of the reference table."""

    names: tuple[str, ...]
    summary: str
    doc: str


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar(
        ("KBSC_DATA",),
        "data/cache directory (overridden by --data-dir)",
        "the data directory (datasets, extractors, features, knowledge bases, checkpoints, caches); "
        "`--data-dir` overrides it",
    ),
    EnvVar(
        ("XDG_CACHE_HOME",),
        "without KBSC_DATA the data directory is $XDG_CACHE_HOME/kbsc, else ~/.cache/kbsc",
        "without `KBSC_DATA`, the data directory is `$XDG_CACHE_HOME/kbsc` (an absolute path; a relative one "
        "is ignored, as the XDG specification says), else `~/.cache/kbsc`",
    ),
    EnvVar(
        ("KBSC_MODELS",),
        "reference model store (default: the models shipped with kbsc; empty: none)",
        "the reference model store (default: the models shipped with the package, which in a source "
        "checkout are its `models/` folder; an empty value: no store, everything trains)",
    ),
    EnvVar(
        ("KBSC_BENCH",),
        "bench report of kbsc estimate and the run banner (default: results/bench.json here or above)",
        "the bench report `kbsc estimate` and the run's time banner read (default: `results/bench.json` in "
        "the current directory or the nearest parent folder that has one)",
    ),
    EnvVar(
        ("KBSC_DEVICE",),
        "torch device: auto (default), cpu, cuda, cuda:N (--device wins; beats `device:` in YAML)",
        "the torch device of every learned model and of FAISS search: `auto` (CUDA when torch sees a GPU, "
        "else the CPU), `cpu`, `cuda` or `cuda:N`; `--device` wins over it, it wins over the config's "
        "`device:` (see docs/gpu.md)",
    ),
    EnvVar(
        ("KBSC_PRECISION",),
        "autocast of extractor/JSCC inference for single commands: fp32 (default), bf16, fp16",
        "autocast precision of extractor and JSCC inference for single commands: `fp32` (default, off), "
        "`bf16` or `fp16` (CUDA only); a grid takes it from the config's `precision:`",
    ),
    EnvVar(
        ("KBSC_LDPC_KERNEL_DIR",),
        "where the LDPC engine's generated numba kernels are written and cached (default: a temp folder)",
        "the folder of the frame-vectorized LDPC engine's generated kernel module and numba's cache of it "
        "(default: `kbsc-ldpc-lanes-<uid>` in the system's temp directory); the first use compiles for 1–4 "
        "minutes, later runs reuse it",
    ),
    EnvVar(
        ("KBSC_QUIET",),
        "any value but empty or 0: no progress output, Ray's own messages muted",
        "any value but empty or `0`: no progress output at all, and Ray's own start-up messages muted "
        "(the test suite sets it)",
    ),
    EnvVar(
        ("KBSC_RAY_DATA",),
        "ship or shared: how Ray workers get the data directory (default: ship with --ray-address)",
        "`ship` (the head packs its data directory into Ray's object store and each node unpacks it into its "
        "own) or `shared` (the workers read the head's data directory on a shared file system); default "
        "`ship` with `--ray-address`, else `shared`",
    ),
    EnvVar(
        ("KBSC_ENVELOPE_DIR",),
        "on-disk memo of the genie envelopes (default <data dir>/baselines/envelopes)",
        "where the genie envelopes' on-disk memo lives (default `<data dir>/baselines/envelopes`); "
        "`kbsc bench` points it at an empty folder for its slice",
    ),
    EnvVar(
        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"),
        "threads per grid worker (default 1)",
        "threads of each grid worker; set to 1 in a worker unless already set",
    ),
    EnvVar(
        ("PYTHONPATH",),
        "where plug-in modules are found; passed on to Ray workers",
        "where plug-in modules are found; passed on to Ray workers",
    ),
)


def help_text(width: int = 110) -> str:
    """The ``environment:`` epilog of ``kbsc --help``: a name column, then the summary (wrapped)."""
    lines = ["environment:"]
    for var in ENVIRONMENT:
        names = ", ".join(var.names)
        if len(names) <= 16:
            first, rest = f"  {names:<17}", "  " + " " * 17
            lines += textwrap.wrap(var.summary, width, initial_indent=first, subsequent_indent=rest)
        else:
            lines.append(f"  {names}")
            pad = " " * 19
            lines += textwrap.wrap(var.summary, width, initial_indent=pad, subsequent_indent=pad)
    return "\n".join(lines)


def markdown_table() -> str:
    """The reference table: variable(s) and effect, one row per entry."""
    rows = ["| Variable | Effect |", "| --- | --- |"]
    for var in ENVIRONMENT:
        rows.append(f"| {', '.join(f'`{n}`' for n in var.names)} | {var.doc} |")
    return "\n".join(rows)
