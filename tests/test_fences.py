"""Guard against fences that pytest-codeblocks would silently skip.

pytest-codeblocks 0.18.0 runs only fences whose info string is exactly
`python` (or `sh` / `bash`). `py`, `python title="x.py"`, `{.python}`, a
`~~~` fence or a space after the backticks are never collected and never
warn (each case reproduced with 0.18.0). A `cont` directive glues the next
fence to the previous fence of ANY language, and `sh` / `bash`
fences would be executed, so pages show shell commands as `shell`.

A continued fence looks like a standalone block a reader could copy, so the
page must say it is not: the line `*Continues the block above.*` comes right
before every `cont` directive.

Chinese pages (`*.zh.md`) are not checked here, and conftest.py does not
collect them: their fences and directives are the English page's, byte for
byte, which tests/test_translations.py checks (with the Chinese marker
`*接上一个代码块。*` before each `cont`).

The last tests check the root conftest.py: with FENCES_IN_EMPTY_DIR=1 a fence
runs in an empty working directory, and a fence that calls a deprecated API
fails while a deprecation inside a library does not.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if not p.name.endswith(".zh.md"))
FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|~{3,})(?P<info>.*)$")
PYTHONISH = re.compile(r"^\s*(\{\s*\.?)?(py|python|python3|pycon)\b", re.IGNORECASE)
DIRECTIVE = re.compile(r"<!--\s*pytest-codeblocks:(?P<name>[a-z]+(?:-[a-z]+)*)")
CONT_MARKER = "*Continues the block above.*"


def fences(text: str):
    """Yield (line number, info string, fence char) for every opening fence."""
    open_mark = None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if not m:
            continue
        mark = m["mark"]
        if open_mark is None:
            open_mark = mark
            yield number, m["info"], mark[0]
        elif (
            mark[0] == open_mark[0]
            and len(mark) >= len(open_mark)
            and not m["info"].strip()
        ):
            open_mark = None


def problems(text: str) -> list[str]:
    found = []
    for number, info, char in fences(text):
        if char == "~":
            found.append(
                f"line {number}: '~~~' fences are never collected; use backticks"
            )
        elif PYTHONISH.match(info) and info != "python":
            found.append(f"line {number}: info string {info!r} is not exactly 'python'")
        elif info.strip() in ("sh", "bash"):
            found.append(f"line {number}: {info!r} fences are executed; use 'shell'")
    # a cont directive must follow a python fence (expected-output fences excluded)
    lines = text.splitlines()
    last_code_lang, pending_expected = None, False
    opening = {n: (info, c) for n, info, c in fences(text)}
    for number, line in enumerate(lines, 1):
        if d := DIRECTIVE.search(line):
            if d["name"] == "cont" and last_code_lang != "python":
                found.append(
                    f"line {number}: 'cont' follows a {last_code_lang!r} fence, "
                    "not python"
                )
            before = [x.strip() for x in lines[: number - 1] if x.strip()]
            if d["name"] == "cont" and (not before or before[-1] != CONT_MARKER):
                found.append(
                    f"line {number}: a 'cont' directive needs the line "
                    f"{CONT_MARKER!r} right before it"
                )
            pending_expected = d["name"].startswith("expected-output")
        if number in opening:
            if pending_expected:
                pending_expected = False
            else:
                last_code_lang = opening[number][0].strip()
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_python_fence_is_collected_by_pytest_codeblocks(page):
    assert problems(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("```py\nx = 1\n```\n", "not exactly 'python'"),
        ('```python title="a.py"\nx = 1\n```\n', "not exactly 'python'"),
        ("```{.python}\nx = 1\n```\n", "not exactly 'python'"),
        ("~~~python\nx = 1\n~~~\n", "'~~~' fences"),
        ("```bash\nls\n```\n", "use 'shell'"),
        (
            "```yaml\na: 1\n```\n<!--pytest-codeblocks:cont-->\n```python\nx\n```\n",
            "'cont'",
        ),
        (
            "```python\nx = 1\n```\n<!--pytest-codeblocks:cont-->\n```python\nx\n```\n",
            "Continues the block above",
        ),
    ],
)
def test_the_guard_catches_each_silent_skip(text, expected):
    assert any(expected in p for p in problems(text))


def test_the_guard_accepts_good_fences():
    text = (
        "```python\nprint(1)\n```\n<!--pytest-codeblocks:expected-output-->\n"
        "```\n1\n```\n\n*Continues the block above.*\n\n"
        "<!--pytest-codeblocks:cont-->\n```python\nprint(2)\n```\n"
        "```shell\nmake test\n```\n"
    )
    assert problems(text) == []


PAGE = """\
```python
import warnings

warnings.warn("old API", FutureWarning)
```

```python
import legacy

legacy.old_api()
```

```python
import legacy

print(legacy.uses_old_api_inside())
```

```python
import os

print(sorted(os.listdir(".")))
```
<!--pytest-codeblocks:expected-output-->
```
[]
```
"""

LEGACY = """\
import warnings


def old_api():
    warnings.warn("old_api is deprecated", DeprecationWarning)
    return 1


def uses_old_api_inside():
    return old_api() + 1
"""


def run_fences(tmp_path: Path, empty_dir: bool) -> dict[int, str]:
    """Run PAGE under the root conftest; return {fence line: outcome}."""
    (tmp_path / "page.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "legacy.py").write_text(LEGACY, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    env.pop("FENCES_IN_EMPTY_DIR", None)
    if empty_dir:
        env["FENCES_IN_EMPTY_DIR"] = "1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--codeblocks",
            "-rA",
            "page.md",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outcomes = re.findall(
        r"^(PASSED|FAILED) page\.md::line (\d+)", result.stdout, re.MULTILINE
    )
    return {int(line): outcome for outcome, line in outcomes}


def test_fences_run_from_an_empty_directory_when_asked(tmp_path):
    assert run_fences(tmp_path, empty_dir=True)[19] == "PASSED"
    # the same fence, run where the page is, sees the page: the switch works
    assert run_fences(tmp_path, empty_dir=False)[19] == "FAILED"


def test_a_fence_that_calls_a_deprecated_api_fails(tmp_path):
    outcomes = run_fences(tmp_path, empty_dir=True)
    assert outcomes[1] == "FAILED"  # warns in the fence itself
    assert outcomes[7] == "FAILED"  # calls a deprecated function directly
    assert outcomes[13] == "PASSED"  # a deprecation inside a library
