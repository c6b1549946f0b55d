"""``kbsc models list|verify|build``: the committed reference models (:mod:`kbsc.training.reference`)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any


def _root_or_note() -> Path | None:
    from kbsc.training.reference import ENV, store_root  # lazy: `kbsc --help` imports every command module

    root = store_root()
    if root is None:
        print(f"no reference model store ({ENV} is empty, or names no folder)")
    return root


def _size(nbytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return ""  # pragma: no cover


def _row(name: str, folder: Path) -> dict[str, Any]:
    from kbsc.training.reference import verify_folder  # lazy: `kbsc --help` imports every command module
    from kbsc.util import read_manifest  # lazy: `kbsc --help` imports every command module

    problem = verify_folder(folder)
    try:
        m = read_manifest(folder)
    except Exception:
        m = {}
    report = m.get("training") if isinstance(m.get("training"), dict) else {}
    ref = m.get("reference") if isinstance(m.get("reference"), dict) else {}
    files = ref.get("files") if isinstance(ref.get("files"), dict) else {}
    best = report.get("best")
    return {
        "name": name,
        "kind": m.get("kind", "?"),
        "size": _size(
            sum(v["bytes"] for v in files.values() if isinstance(v, dict) and _is_int(v.get("bytes")))
        ),
        "converged": {True: "yes", False: "NO"}.get(report.get("converged"), "?"),
        "best": f"{report.get('metric', '?')} {best:.4g}" if isinstance(best, int | float) else "?",
        "steps": str(report.get("steps", "?")),
        "options": _options(m),
        "verified": "ok" if problem is None else "MISMATCH",
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _options(manifest: dict[str, Any]) -> str:
    """The model options of a manifest's training config, ``key=value`` comma-joined (``-`` for none): what
    tells two models of the same name and rate apart (e.g. ``linear_path=spectral``)."""
    config = manifest.get("config")
    opts = config.get("model_options") if isinstance(config, dict) else None
    if not isinstance(opts, dict) or not opts:
        return "-"
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(opts.items()))


def cmd_list(args: argparse.Namespace) -> int:
    from kbsc.training.reference import store_folders  # lazy: `kbsc --help` imports every command module

    root = _root_or_note()
    if root is None:
        return 0
    rows = [_row(name, folder) for name, folder in store_folders(root)]
    print(f"reference models in {root}: {len(rows)}")
    if rows:
        cols = list(rows[0])
        widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
        for r in [dict(zip(cols, cols, strict=True)), *rows]:
            print("  ".join(r[c].ljust(widths[c]) for c in cols).rstrip())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from kbsc.training.reference import (  # lazy: `kbsc --help` imports every command module
        store_folders,
        verify_folder,
    )

    root = _root_or_note()
    if root is None:
        return 0
    problems = [(name, verify_folder(folder)) for name, folder in store_folders(root)]
    bad = [(name, p) for name, p in problems if p is not None]
    for name, problem in bad:
        print(f"reference model {name} {problem}")
    if bad:
        return 1
    print(f"{len(problems)} reference models in {root}: all files match their manifests")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from kbsc.experiments.reference_models import (
        build_references,  # lazy: `kbsc --help` imports every command module
    )

    command = " ".join(
        ["kbsc", "models", "build", shlex.quote(args.config)]
        + (["--only", shlex.quote(args.only)] if args.only else [])
        + ([f"--threads {args.threads}"] if args.threads else [])
        + (["--codecs"] if args.codecs else [])
        + (["--allow-code"] if args.allow_code else [])
    )
    built = build_references(
        args.config,
        command=command,
        only=args.only,
        threads=args.threads,
        codecs=args.codecs,
        data_dir=args.data_dir,
        allow_code=args.allow_code,
    )
    for b in built:
        state = "already built" if b.cached else ("trained" if b.finished else "interrupted")
        print(f"{b.name}: {state}; {b.summary}")
    if not built:
        print("nothing to build (no model of this preset matches --only)")
    return 0 if all(b.finished for b in built) else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``models`` (list, verify, build) to the ``kbsc`` parser."""
    from kbsc.cli.args import add_data_dir, add_device  # lazy: `kbsc --help` imports every command module

    top = sub.add_parser(
        "models",
        help="the committed reference models (models/): list, verify, build",
        description="Reference models are trained once with this code and committed under models/ (or "
        "$KBSC_MODELS); runs load them instead of training when file hashes, dataset fingerprint and "
        "configuration match (--retrain trains instead).",
    )
    msub = top.add_subparsers(dest="models_cmd", required=True)

    p = msub.add_parser(
        "list", help="name, kind, size, converged, best metric, steps, model options, verified"
    )
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("verify", help="check every file against its manifest (exit 1 on a problem)")
    p.set_defaults(func=cmd_verify)

    p = msub.add_parser(
        "build",
        help="train (or resume) the reference models a preset needs into the store, sign their manifests",
    )
    p.add_argument("config", nargs="?", default="quick", help="preset or YAML (default: quick)")
    p.add_argument("--only", default=None, metavar="PREFIX", help="only models whose name starts so")
    p.add_argument("--threads", type=int, default=None, help="torch threads of JSCC/codec training")
    p.add_argument("--codecs", action="store_true", help="also the KBSC codecs of the preset")
    p.add_argument("--allow-code", action="store_true", help="allow a config that imports code")
    add_data_dir(p)
    add_device(p)
    p.set_defaults(func=cmd_build)
