"""Generators of the documentation's reference pages, from the code (used by ``docs/hooks.py``).

Each ``<!-- gen:NAME -->`` marker in a page is replaced by ``GENERATORS[NAME]()``; an unknown name is an
error, so a typo fails ``mkdocs build --strict`` instead of leaving a hole in the page.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable

MARKER = re.compile(r"<!-- gen:([a-z-]+) -->")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each sub-command, in the order they were added."""
    out = []
    for action in parser._actions:  # argparse keeps the sub-parsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, sub, helps.get(name, "")))
    return out


def _help(parser: argparse.ArgumentParser) -> str:
    text = parser.format_help()
    return text.replace("```", "'''")


def cli_reference() -> str:
    """Every ``kbsc`` command's ``--help``, one section per command (sub-commands nested)."""
    import os

    from kbsc.cli import build_parser

    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal; the page gets a fixed width
    parser = build_parser()
    parts = ["## `kbsc`", "", "```text", _help(parser).rstrip(), "```", ""]

    def walk(p: argparse.ArgumentParser, path: list[str]) -> None:
        for name, sub, helptext in _subcommands(p):
            full = [*path, name]
            parts.extend([f"{'#' * min(len(full) + 1, 4)} `kbsc {' '.join(full)}`", ""])
            if helptext:
                parts.extend([helptext[0].upper() + helptext[1:] + ".", ""])
            parts.extend(["```text", _help(sub).rstrip(), "```", ""])
            walk(sub, full)

    walk(parser, [])
    return "\n".join(parts)


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field line of a class body (the config's field notes)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    notes: dict[str, str] = {}
    for line in source.splitlines():
        m = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if m:
            notes[m.group(1)] = m.group(2).strip()
    return notes


def _type_text(schema: dict, defs: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_text(s, defs) for s in schema["anyOf"])
    t = schema.get("type")
    if t == "array":
        return f"list of {_type_text(schema.get('items', {}), defs)}"
    if t == "object":
        return "mapping"
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "none"}.get(
        t, t or "any"
    )


def _limits(schema: dict) -> str:
    keys = (("minimum", "≥"), ("maximum", "≤"), ("exclusiveMinimum", ">"))
    parts = [f"{sym} {schema[k]}" for k, sym in keys if k in schema]
    if schema.get("minItems") == 1:
        parts.append("not empty")
    return ", ".join(parts)


def config_reference() -> str:
    """One table per pydantic model of the experiment config, from the models themselves."""
    from pydantic import BaseModel

    from kbsc.experiments import config as cfg

    models = [cfg.ExperimentConfig, cfg.SystemSpec, cfg.DatasetSpec, cfg.ExtractorSpec, cfg.TrainingSpec]
    parts = []
    for model in models:
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        notes = _field_comments(model)
        required = set(schema.get("required", []))
        parts += [f"## `{model.__name__}`", "", inspect.getdoc(model) or "", ""]
        parts += ["| key | type | default | notes |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            prop = schema["properties"].get(name, {})
            value = field.get_default(call_default_factory=True)
            if name in required:
                default = "required"
            elif isinstance(value, BaseModel):
                default = f"see `{type(value).__name__}`"
            else:
                default = f"`{value!r}`"
            note = "; ".join(x for x in (_limits(prop), field.description or notes.get(name, "")) if x)
            kind = _type_text(prop, defs).replace("|", "\\|")
            parts.append(f"| `{name}` | {kind} | {default.replace('|', chr(92) + '|')} | {note} |")
        parts.append("")
    return "\n".join(parts)


def environment_reference() -> str:
    from kbsc.util.environment import markdown_table

    return markdown_table()


def preset_reference() -> str:
    """The presets shipped with the package, with the first comment line of each file."""
    from kbsc.experiments.config import preset_dir, preset_names

    rows = ["| preset | file | what |", "| --- | --- | --- |"]
    for name in preset_names():
        text = (preset_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        first = next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#")), "")
        rows.append(f"| `{name}` | `experiments/{name}.yaml` | {first} |")
    return "\n".join(rows)


def layer_reference() -> str:
    """The import layers of ``[tool.importlinter]`` in pyproject.toml, top first (the contract make test checks)."""
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    contracts = config.get("tool", {}).get("importlinter", {}).get("contracts", [])
    layers = next((c["layers"] for c in contracts if c.get("type") == "layers"), [])
    rows = ["| layer (top first) | packages |", "| --- | --- |"]
    for i, layer in enumerate(layers, 1):
        rows.append(f"| {i} | " + ", ".join(f"`{p.strip()}`" for p in layer.split("|")) + " |")
    return "\n".join(rows)


#: figure file prefix → what it shows (the kinds `kbsc plot` draws)
FIGURE_KINDS = {
    "main_acc_vs_cbr": "The main figure",
    "acc_vs_cbr": "Accuracy vs CBR at a fixed SNR",
    "acc_vs_snr": "Accuracy vs SNR at a fixed CBR",
    "bler_vs_snr": "BLER of the coded links vs SNR",
    "psnr_vs_cbr": "PSNR of the pixel systems vs CBR",
}


def figure_gallery() -> str:
    """Every committed figure under ``results/*/figures`` (PNG), by result set and kind, each collapsed under
    its file name; the paths are relative to ``docs/results/``, where the hook serves ``results/``."""
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "results"
    parts = []
    for folder in sorted(p for p in results.glob("*/figures") if p.is_dir()):
        name = folder.parent.name
        parts += [f"## `results/{name}/`", ""]
        pngs = sorted(folder.glob("*.png"))
        for prefix, title in FIGURE_KINDS.items():
            mine = [p for p in pngs if p.stem == prefix or p.stem.startswith(prefix + "_")]
            pngs = [p for p in pngs if p not in mine]
            if not mine:
                continue
            parts += [f"### {title}", ""]
            for png in mine:
                parts += [f'??? note "{png.stem}"', f"    ![{png.stem}]({name}/figures/{png.name})", ""]
        for png in pngs:  # a kind not listed above
            parts += [f'??? note "{png.stem}"', f"    ![{png.stem}]({name}/figures/{png.name})", ""]
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[], str]] = {
    "figures": figure_gallery,
    "layers": layer_reference,
    "cli": cli_reference,
    "config": config_reference,
    "environment": environment_reference,
    "presets": preset_reference,
}


def expand(markdown: str) -> str:
    """``markdown`` with every ``<!-- gen:NAME -->`` replaced by its generated text."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in GENERATORS:
            raise KeyError(f"unknown generated block <!-- gen:{name} --> (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(one, markdown)
