"""MkDocs hooks: the reference pages generated from the code, and the committed figures served with the site.

* ``<!-- gen:cli -->`` becomes the help of every ``kbsc`` command, taken from the argparse parser itself
  (:func:`kbsc.cli.build_parser`), so the page cannot drift from the command;
* ``<!-- gen:config -->`` becomes the config schema: one table per pydantic model of
  :mod:`kbsc.experiments.config` (field, type, default, description);
* ``<!-- gen:environment -->`` becomes the table of :data:`kbsc.util.environment.ENVIRONMENT`;
* ``<!-- gen:presets -->`` lists the presets shipped as package data;
* the Sphinx roles of the docstrings (``:class:``, ``:func:``, ...) are dropped in front of code spans;
* every PNG under the repository's ``results/`` is served at ``results/<same path>``, so the pages show the
  committed figures without copying them into ``docs/``.

The generators live in :mod:`docs.gen` (plain functions, tested without MkDocs).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen  # noqa: E402  (docs/gen.py, importable once docs/ is on the path)
import kbsc  # noqa: E402, F401  (bound now: MkDocs restores sys.path after loading a hook, and the pages must
#                          document this checkout's kbsc, not another one an editable install points at)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' hook signature
    return gen.expand(markdown)


#: a Sphinx role left in front of a code span by the docstrings (``:class:`Bridge```), dropped from the page
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(?=<code>)")


def on_page_content(html: str, page, config, files) -> str:  # noqa: ANN001 - MkDocs' hook signature
    return _ROLE.sub("", html)


def on_files(files, config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    from mkdocs.structure.files import File

    for png in sorted((ROOT / "results").rglob("*.png")):
        rel = png.relative_to(ROOT).as_posix()
        if files.get_file_from_path(rel) is None:
            files.append(File.generated(config, rel, abs_src_path=str(png)))
    return files
