"""The Chinese edition's guards: same code, no stale translation, working anchors.

`docs/<page>.zh.md` is the Chinese twin of `docs/<page>.md` (mkdocs-static-i18n,
suffix layout, served under /zh/). Its code is the English page's code: every
fenced block (any language), every pytest-codeblocks directive, every
`--8<--` include line, every `{{ ... }}` macro line, every display formula
(`$$ ... $$`) and every mkdocstrings `::: module` directive appears in both
files byte for byte and in the same order, so the Chinese pages need not run
their fences a second time (conftest.py skips them) and cannot drift from the
tested code. A Chinese page records the
sha256 of the English file it translates (`en_sha256` in its front matter);
when the English page changes, the stamp no longer matches and
tests/test_translations.py fails until the translation is updated and
re-stamped:

    python -m snippets.i18n --stamp docs/<page>.zh.md   # after updating it
    python -m snippets.i18n --check                     # every page's state

`--stamp` refuses a translation whose code differs from the English page's.
The rules for translators are in the README ("Translations").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SUFFIX = ".zh.md"
# the English pages' "*Continues the block above.*"
CONT_MARKER_ZH = "*接上一个代码块。*"

# English pages (relative to docs/) that have no Chinese twin yet: the Chinese
# site shows the English page there (fallback_to_default). This list may only
# shrink: tests/test_translations.py fails on a page that has a twin but is
# still listed. When it is empty, the edition is complete.
NOT_YET_TRANSLATED: tuple[str, ...] = ()

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<mark>`{3,}|~{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"<!--\s*pytest[-.]")  # pytest-codeblocks: / pytest.mark.
INCLUDE = re.compile(r"-+8<-+")
MACRO = re.compile(r"\{\{.*?\}\}")
AUTODOC = re.compile(r"^[ \t]*:::[ \t]+\S")  # mkdocstrings: `::: lora_ref.x`
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<body>.*?\n)---[ \t]*\n", re.DOTALL)
STAMP_KEYS = ("en_source", "en_sha256")


# -- what must be identical ----------------------------------------------------


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """({key: value} of a leading YAML front matter (flat keys only), the rest)."""
    m = FRONT_MATTER.match(text)
    if not m:
        return {}, text
    meta = {}
    for line in m["body"].splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t", "#")):
            meta[key.strip()] = value.strip().strip("'\"")
    return meta, text[m.end() :]


def frozen_parts(text: str) -> list[tuple[int, str, str]]:
    """The parts a translation copies byte for byte, in order.

    Returns (line number, kind, text) for every fenced block (all its lines,
    fence lines and indentation included; kind "fence"), every line outside
    a fence holding a pytest directive, a `--8<--` include or a `{{ ... }}`
    macro (kind "directive", "include", "macro"; of a prose line holding a
    macro, only its macros, so the prose is translated), every display formula
    `$$ ... $$` outside fences (kind "math") and every mkdocstrings
    `::: module` line with its indented options (kind "autodoc"). Line
    numbers count from the top of the file, front matter included.
    """
    meta_len = len(text) - len(split_front_matter(text)[1])
    offset = text[:meta_len].count("\n")
    lines = text[meta_len:].split("\n")
    parts: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        number = offset + i + 1
        m = FENCE.match(line)
        if m:
            mark = m["mark"]
            block = [line]
            i += 1
            while i < len(lines):
                block.append(lines[i])
                c = FENCE.match(lines[i])
                if (
                    c
                    and c["mark"][0] == mark[0]
                    and len(c["mark"]) >= len(mark)
                    and not c["info"].strip()
                ):
                    break
                i += 1
            parts.append((number, "fence", "\n".join(block)))
        elif line.strip().startswith("$$"):
            block = [line]
            closed = line.strip() != "$$" and line.strip().endswith("$$")
            while not closed and i + 1 < len(lines):
                i += 1
                block.append(lines[i])
                closed = lines[i].strip().endswith("$$")
            parts.append((number, "math", "\n".join(block)))
        elif AUTODOC.match(line):
            block = [line]  # with its indented options, if any
            while i + 1 < len(lines) and lines[i + 1].startswith((" ", "\t")):
                i += 1
                block.append(lines[i])
            parts.append((number, "autodoc", "\n".join(block)))
        elif DIRECTIVE.search(line):
            parts.append((number, "directive", line))
        elif INCLUDE.search(line):
            parts.append((number, "include", line))
        elif MACRO.search(line):
            # a line that is only macros is copied whole (its indentation
            # places the table); in a prose line only the macros are copied
            macros = MACRO.findall(line)
            whole = not MACRO.sub("", line).strip()
            parts.append((number, "macro", line if whole else " ".join(macros)))
        i += 1
    return parts


def identity_problems(en_text: str, zh_text: str) -> list[str]:
    """Where the translation's code differs from the English page's ([] if none)."""
    en, zh = frozen_parts(en_text), frozen_parts(zh_text)
    found = []
    for k, (a, b) in enumerate(zip(en, zh, strict=False)):
        if a[1:] != b[1:]:
            found.append(
                f"item {k + 1}: English line {a[0]} ({a[1]}) and Chinese line "
                f"{b[0]} ({b[1]}) differ:\n  EN: {a[2][:300]!r}\n  ZH: {b[2][:300]!r}"
            )
            break  # the first difference; later ones are usually its echo
    if len(en) != len(zh):
        more, side = (en, "English") if len(en) > len(zh) else (zh, "Chinese")
        extra = more[min(len(en), len(zh))]
        found.append(
            f"{len(en)} code items in English, {len(zh)} in Chinese; the first "
            f"unmatched one is {side} line {extra[0]} ({extra[1]}): {extra[2][:120]!r}"
        )
    return found


def cont_marker_problems(zh_text: str) -> list[str]:
    """A `cont` directive on a Chinese page needs `*接上一个代码块。*` before it."""
    found, previous = [], ""
    for number, line in enumerate(zh_text.splitlines(), 1):
        if "pytest-codeblocks:cont" in line and previous != CONT_MARKER_ZH:
            found.append(
                f"line {number}: a 'cont' directive needs the line "
                f"{CONT_MARKER_ZH!r} right before it (blank lines aside)"
            )
        if line.strip():
            previous = line.strip()
    return found


# -- headings and their anchors ------------------------------------------------

_MARKDOWN_EXTENSIONS = [
    "abbr",
    "admonition",
    "attr_list",
    "def_list",
    "footnotes",
    "md_in_html",
    "tables",
    "toc",
    "pymdownx.details",
    "pymdownx.superfences",
    "pymdownx.tabbed",
    "pymdownx.arithmatex",
    "pymdownx.inlinehilite",
]
_EXTENSION_CONFIGS = {
    "pymdownx.tabbed": {"alternate_style": True},
    "pymdownx.arithmatex": {"generic": True},
}


def heading_ids(text: str, min_level: int = 2) -> list[str]:
    """The ids python-markdown's toc gives the page's headings, in order.

    Rendered with the site's Markdown extensions (as mkdocs.yml lists them),
    so an explicit `{#id}` wins and a heading without one gets the toc slug.
    """
    import markdown  # only where anchors are checked

    md = markdown.Markdown(
        extensions=_MARKDOWN_EXTENSIONS, extension_configs=_EXTENSION_CONFIGS
    )
    md.convert(split_front_matter(text)[1])
    found: list[str] = []

    def walk(tokens: list[dict]) -> None:
        for token in tokens:
            if token["level"] >= min_level:
                found.append(token["id"])
            walk(token["children"])

    walk(md.toc_tokens)
    return found


def anchor_problems(en_text: str, zh_text: str) -> list[str]:
    """The Chinese headings' ids must be the English headings' anchors."""
    en, zh = heading_ids(en_text), heading_ids(zh_text)
    found = [
        f"heading id {a!r} is not an anchor of the English page"
        for a in zh
        if a not in en
    ]
    missing = [a for a in en if a not in zh]
    if missing:
        found.append(
            f"English anchors with no Chinese heading: {missing} (give each "
            "translated heading the English anchor: `## 标题 {#anchor}`)"
        )
    if not found and en != zh:
        found.append(f"headings in another order: English {en}, Chinese {zh}")
    return found


# -- pages ---------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def english_of(zh_page: Path) -> Path:
    return zh_page.with_name(zh_page.name.removesuffix(SUFFIX) + ".md")


def chinese_of(en_page: Path) -> Path:
    return en_page.with_name(en_page.name.removesuffix(".md") + SUFFIX)


def english_pages(docs: Path = DOCS) -> list[str]:
    """Every English page under docs/ (relative, '/'-separated), assets aside."""
    return sorted(
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*.md")
        if not p.name.endswith(SUFFIX) and "assets" not in p.parts
    )


def chinese_pages(docs: Path = DOCS) -> list[str]:
    return sorted(
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*" + SUFFIX)
        if "assets" not in p.parts
    )


def refresh_hint(zh_page: Path) -> str:
    try:
        shown = zh_page.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        shown = str(zh_page)
    return f"python -m snippets.i18n --stamp {shown}"


def stale_problem(zh_page: Path) -> str | None:
    """None if the stamp matches the English page's bytes, else what to do."""
    en_page = english_of(zh_page)
    meta, _ = split_front_matter(zh_page.read_text(encoding="utf-8"))
    stamp = meta.get("en_sha256")
    if stamp == sha256(en_page) and meta.get("en_source") == en_page.name:
        return None
    why = (
        "has no en_sha256 stamp"
        if not stamp
        else f"has en_source {meta.get('en_source')!r}, not {en_page.name!r}"
        if stamp == sha256(en_page)
        else f"translates another version of {en_page.name} (the English page "
        "changed since it was stamped)"
    )
    return (
        f"{zh_page.name} {why}. Update the translation to the English page "
        f"(`git diff` on {en_page.name} shows what changed), then run "
        f"`{refresh_hint(zh_page)}`."
    )


def page_problems(zh_page: Path) -> list[str]:
    """Everything wrong with one Chinese page (identity, stamp, anchors)."""
    en_page = english_of(zh_page)
    if not en_page.exists():
        return [f"{zh_page.name} has no English twin {en_page.name}"]
    en_text = en_page.read_text(encoding="utf-8")
    zh_text = zh_page.read_text(encoding="utf-8")
    found = identity_problems(en_text, zh_text) + cont_marker_problems(zh_text)
    found += anchor_problems(en_text, zh_text)
    if stale := stale_problem(zh_page):
        found.append(stale)
    return found


def stamped(text: str, en_page: Path) -> str:
    """`text` with en_source / en_sha256 set in its front matter (added if absent)."""
    values = {"en_source": en_page.name, "en_sha256": sha256(en_page)}
    m = FRONT_MATTER.match(text)
    if not m:
        head = "".join(f"{k}: {v}\n" for k, v in values.items())
        return f"---\n{head}---\n{text}"
    lines = [
        line
        for line in m["body"].splitlines(keepends=True)
        if line.partition(":")[0].strip() not in STAMP_KEYS
    ]
    lines += [f"{k}: {v}\n" for k, v in values.items()]
    return "---\n" + "".join(lines) + "---\n" + text[m.end() :]


def stamp(zh_page: Path) -> None:
    """Record the English page's current sha256 in the translation.

    Raises:
        ValueError: if the page is not a `.zh.md` file, has no English twin,
            or its code differs from the English page's (fix that first).
    """
    if not zh_page.name.endswith(SUFFIX):
        raise ValueError(f"{zh_page} is not a Chinese page (*{SUFFIX})")
    en_page = english_of(zh_page)
    if not en_page.exists():
        raise ValueError(f"{zh_page} has no English twin {en_page.name}")
    text = zh_page.read_text(encoding="utf-8")
    problems = identity_problems(en_page.read_text(encoding="utf-8"), text)
    if problems:
        raise ValueError(
            f"not stamped: the code in {zh_page.name} differs from "
            f"{en_page.name}:\n" + "\n".join(problems)
        )
    new = stamped(text, en_page)
    fd, tmp = tempfile.mkstemp(dir=zh_page.parent, prefix=".stamp-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(new)
        os.replace(tmp, zh_page)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check(docs: Path = DOCS) -> tuple[list[str], list[str]]:
    """(problems of the existing translations, English pages without a twin)."""
    problems = []
    for name in chinese_pages(docs):
        problems += [f"{name}: {p}" for p in page_problems(docs / name)]
    missing = [p for p in english_pages(docs) if not chinese_of(docs / p).exists()]
    return problems, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m snippets.i18n",
        description=__doc__.split("\n\n")[0],
        epilog="After updating a translation: --stamp docs/<page>.zh.md",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--stamp",
        nargs="+",
        type=Path,
        metavar="PAGE.zh.md",
        help="record the English page's sha256 in these translations "
        "(refused if their code differs from the English page's)",
    )
    action.add_argument(
        "--check",
        action="store_true",
        help="list stale or broken translations and English pages without a "
        "twin; exit status 1 if a translation is stale or broken",
    )
    args = parser.parse_args(argv)
    if args.stamp:
        for page in args.stamp:
            if not page.is_file():
                parser.error(f"no such file: {page}")
        failed = False
        for page in args.stamp:
            try:
                stamp(page)
            except ValueError as err:
                print(err, file=sys.stderr)
                failed = True
            else:
                print(f"stamped {page} with sha256 of {english_of(page).name}")
        return 1 if failed else 0
    problems, missing = check()
    for line in problems:
        print(f"PROBLEM {line}")
    for name in missing:
        print(f"MISSING {name}: no {Path(name).name.removesuffix('.md')}{SUFFIX}")
    done = len(english_pages()) - len(missing)
    print(
        f"{done} of {len(english_pages())} English pages have a Chinese twin; "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
