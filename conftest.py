"""Root conftest: how the docs fences run under pytest-codeblocks.

1. `--8<--` includes run as the page shows them. pytest-codeblocks would run
   an include line as Python. Before a fence runs, each include line is
   replaced by what pymdownx.snippets inserts (same base paths as mkdocs.yml,
   marker lines dropped, indentation kept). A missing file or section fails
   that block, not the whole run.
2. With `FENCES_IN_EMPTY_DIR=1` in the environment, every python fence runs
   with a fresh, empty temporary directory as its working directory, as if
   pasted into a new session somewhere else: a fence that reads a path
   relative to the repository fails. `make test` runs the fences both ways.
3. A fence that itself calls a deprecated API fails: a DeprecationWarning or
   FutureWarning raised while a fence runs is an error when the fence's own
   code called the function that warned (or the warning is attributed to the
   fence). Deprecations inside libraries, reached through other library
   code, stay warnings.
4. Chinese pages (`docs/*.zh.md`) are not collected: their fences are the
   English page's, byte for byte (tests/test_translations.py checks that),
   so the English page's run covers them.
"""

import contextlib
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from pytest_codeblocks.plugin import TestBlock

ROOT = Path(__file__).resolve().parent
SNIPPET_DIRS = (ROOT, ROOT / "snippets")  # = pymdownx.snippets base_path
INCLUDE = re.compile(
    r'^(?P<indent>\s*)-+8<-+\s+"(?P<file>[^":]+)(?::(?P<section>[\w-]+))?"\s*$'
)
MARKER = re.compile(r"-+8<-+\s+\[(?P<kind>start|end):(?P<name>[\w-]+)\]")

collect_ignore = ["snippets", "site", ".venv"]
TRANSLATION_SUFFIX = ".zh.md"  # = snippets.i18n.SUFFIX


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if collection_path.name.endswith(TRANSLATION_SUFFIX):
        return True  # fences identical to the English page's, which runs them
    return None


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


# -- 2. an empty working directory per fence, on request ---------------------

EMPTY_DIR_SWITCH = "FENCES_IN_EMPTY_DIR"


def _python_fence(item) -> bool:
    return isinstance(item, TestBlock) and item.obj.syntax == "python"


@contextlib.contextmanager
def _in_empty_dir():
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="fence-cwd-") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


# -- 3. deprecations called by a fence are errors ----------------------------

# pytest-codeblocks runs a fence as exec(code, {"__MODULE__": "__main__"}):
# the fence's frames (and those of functions it defines) have that globals
# dict and the file name "<string>"; no library frame has both.
FENCE_GLOBALS_KEY = "__MODULE__"
DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def is_fence_frame(frame) -> bool:
    return (
        frame.f_code.co_filename == "<string>"
        and frame.f_globals.get(FENCE_GLOBALS_KEY) == "__main__"
    )


class FenceDeprecationError(Exception):
    """A fence called an API that is deprecated."""


def _raised_by_fence() -> bool:
    """True if the warning being shown comes from a fence's own call.

    Called from inside warnings.warn(), so the stack is still there: skip
    this module and the warnings machinery; the next frame called
    warnings.warn (the deprecated function), the one after it called that.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in (
        __file__,
        warnings.__file__,
    ):
        frame = frame.f_back
    emitter = frame
    caller = emitter.f_back if emitter is not None else None
    return any(f is not None and is_fence_frame(f) for f in (emitter, caller))


@contextlib.contextmanager
def deprecations_from_fences_fail():
    """Turn a deprecation the fence itself triggers into an exception.

    pytest already shows DeprecationWarning and FutureWarning (its own
    filters and the `filterwarnings` of pyproject.toml decide which); this
    wraps the function that shows them.
    """
    with warnings.catch_warnings():
        shown_elsewhere = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DEPRECATIONS) and _raised_by_fence():
                raise FenceDeprecationError(
                    f"a fence calls a deprecated API: {category.__name__}: {message}"
                )
            shown_elsewhere(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _python_fence(item):
        return (yield)
    with contextlib.ExitStack() as stack:
        if os.environ.get(EMPTY_DIR_SWITCH) == "1":
            stack.enter_context(_in_empty_dir())
        stack.enter_context(deprecations_from_fences_fail())
        return (yield)
