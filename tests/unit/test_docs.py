"""The documentation's contracts with the code: design references resolve, the environment list is complete
and printed by ``kbsc --help``, the generated reference pages come from the code, the README is a front
page."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="not a source checkout")


def _sections() -> set[str]:
    text = (DOCS / "design.md").read_text(encoding="utf-8")
    return set(re.findall(r"^## (\d+)\. ", text, re.M))


def _code_files() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])


def test_every_design_reference_in_the_code_names_a_section_of_docs_design_md():
    sections = _sections()
    assert sections >= {"1", "2", "3", "4", "5", "6", "7"}
    refs, stale = [], []
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        refs += [(rel, n) for n in re.findall(r"docs/design\.md §(\d+)", text)]
        # any other spelling of a design reference (the old root DESIGN.md, "DESIGN §N") is stale
        if path.name != "test_docs.py":
            stale += [f"{rel}: {m}" for m in re.findall(r"DESIGN(?:\.md)?\s*§\s*\d+", text)]
    assert refs, "no design references found: the scan is broken"
    assert not stale, f"references to a design file that does not exist: {stale}"
    missing = [f"{rel} → §{n}" for rel, n in refs if n not in sections]
    assert not missing, f"design references without a section in docs/design.md: {missing}"


def test_every_kbsc_environment_variable_the_code_reads_is_listed_and_in_help():
    from kbsc.cli import build_parser
    from kbsc.util.environment import ENVIRONMENT, help_text, markdown_table

    listed = {n for var in ENVIRONMENT for n in var.names}
    used = set()
    for path in (ROOT / "src").rglob("*.py"):
        used |= set(re.findall(r"[\"'](KBSC_[A-Z][A-Z_]*)[\"']", path.read_text(encoding="utf-8")))
    assert used, "no KBSC_ variables found: the scan is broken"
    assert used <= listed, f"read by the code but not in kbsc.util.environment: {sorted(used - listed)}"
    epilog, table = build_parser().format_help(), markdown_table()
    for name in listed:
        assert name in help_text() and name in epilog and f"`{name}`" in table
    assert (DOCS / "reference" / "environment.md").read_text().count("<!-- gen:environment -->") == 1


@pytest.fixture
def gen(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS))
    sys.modules.pop("gen", None)
    import gen

    yield gen
    sys.modules.pop("gen", None)


def test_generated_reference_pages_come_from_the_code(gen):
    from kbsc.cli import build_parser
    from kbsc.experiments.config import ExperimentConfig, preset_names

    cli = gen.expand("<!-- gen:cli -->")
    top = [a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    for name in top.choices:
        assert f"## `kbsc {name}`" in cli, name
    assert "--allow-code" in cli and "usage: kbsc run" in cli
    config = gen.expand("<!-- gen:config -->")
    for field in ExperimentConfig.model_fields:
        assert f"| `{field}` |" in config, field
    presets = gen.expand("<!-- gen:presets -->")
    assert preset_names() and all(f"| `{p}` |" in presets for p in preset_names())
    layers = gen.expand("<!-- gen:layers -->")
    assert "| 1 | `kbsc.cli` |" in layers and "`kbsc.util`" in layers
    figures = gen.expand("<!-- gen:figures -->")
    for png in (ROOT / "results").glob("*/figures/*.png"):
        assert f"]({png.parent.parent.name}/figures/{png.name})" in figures, png
    with pytest.raises(KeyError, match="gen:nothing"):
        gen.expand("<!-- gen:nothing -->")


def test_readme_is_a_front_page_whose_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make demo" in text and "make test" in text
    assert not re.search(r"\bissue[- ]\d+|\bissue \d+", text, re.I), "issue numbers belong in CHANGELOG.md"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [ln for ln in links if not re.match(r"[a-z]+://", ln)]
    assert any(ln.startswith("docs/") for ln in local)
    missing = [ln for ln in local if not (ROOT / ln).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_every_docs_page_is_in_the_nav():
    import yaml

    nav = yaml.safe_load(
        (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1].join(["nav:", ""])
    )

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for x in node:
                yield from pages(x)
        elif isinstance(node, dict):
            for x in node.values():
                yield from pages(x)

    listed = set(pages(nav["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk == listed, (
        f"not in the nav: {sorted(on_disk - listed)}; missing: {sorted(listed - on_disk)}"
    )
