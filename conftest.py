"""Root conftest: make `--8<--` includes in docs fences run as the page shows them.

pytest-codeblocks would run an include line as Python. Before a fence runs,
each include line is replaced by what pymdownx.snippets inserts (same base
paths as mkdocs.yml, marker lines dropped, indentation kept). A missing file
or section fails that block, not the whole run.
"""

import re
from pathlib import Path

from pytest_codeblocks.plugin import TestBlock

ROOT = Path(__file__).resolve().parent
SNIPPET_DIRS = (ROOT, ROOT / "snippets")  # = pymdownx.snippets base_path
INCLUDE = re.compile(
    r'^(?P<indent>\s*)-+8<-+\s+"(?P<file>[^":]+)(?::(?P<section>[\w-]+))?"\s*$'
)
MARKER = re.compile(r"-+8<-+\s+\[(?P<kind>start|end):(?P<name>[\w-]+)\]")

collect_ignore = ["snippets", "site", ".venv"]


def snippet_text(file: str, section: str | None, indent: str) -> str:
    path = next((d / file for d in SNIPPET_DIRS if (d / file).is_file()), None)
    if path is None:
        raise LookupError(f"--8<-- file not found: {file}")
    kept, inside, found = [], section is None, section is None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if m := MARKER.search(line):  # marker lines never reach the page
            if m["name"] == section:
                inside, found = m["kind"] == "start", True
        elif inside:
            kept.append(indent + line)
    if not found:
        raise LookupError(f"--8<-- section not found: {file}:{section}")
    return "".join(kept)


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, TestBlock) and item.obj.syntax == "python":
            lines = item.obj.code.splitlines(keepends=True)
            try:
                item.obj.code = "".join(
                    snippet_text(m["file"], m["section"], m["indent"])
                    if (m := INCLUDE.match(line))
                    else line
                    for line in lines
                )
            except LookupError as err:  # fail this block, not the run
                item.obj.code = f"raise LookupError({str(err)!r})\n"
