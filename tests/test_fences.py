"""Guard against fences that pytest-codeblocks would silently skip.

pytest-codeblocks 0.18.0 runs only fences whose info string is exactly
`python` (or `sh` / `bash`). `py`, `python title="x.py"`, `{.python}`, a
`~~~` fence or a space after the backticks are never collected and never
warn (each case reproduced with 0.18.0). A `cont` directive glues the next
fence to the previous fence of ANY language, and `sh` / `bash`
fences would be executed, so pages show shell commands as `shell`.
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>\s*)(?P<mark>`{3,}|~{3,})(?P<info>.*)$")
PYTHONISH = re.compile(r"^\s*(\{\s*\.?)?(py|python|python3|pycon)\b", re.IGNORECASE)
DIRECTIVE = re.compile(r"<!--\s*pytest-codeblocks:(?P<name>[a-z]+(?:-[a-z]+)*)")


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
    ],
)
def test_the_guard_catches_each_silent_skip(text, expected):
    assert any(expected in p for p in problems(text))


def test_the_guard_accepts_good_fences():
    text = (
        "```python\nprint(1)\n```\n<!--pytest-codeblocks:expected-output-->\n"
        "```\n1\n```\n<!--pytest-codeblocks:cont-->\n```python\nprint(2)\n```\n"
        "```shell\nmake test\n```\n"
    )
    assert problems(text) == []
