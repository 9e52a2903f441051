"""The Chinese edition cannot drift from the English one.

For every `docs/<page>.zh.md` (snippets/i18n.py has the rules):
- same code: its fenced blocks (any language), pytest-codeblocks directives,
  `--8<--` includes, `{{ ... }}` macros and display formulas are the English
  page's, byte for byte, in the same order; so the English page's test run
  covers them, and conftest.py does not collect Chinese pages;
- not stale: `en_sha256` in its front matter is the sha256 of the English
  file; the failure names the page and the command that re-stamps it;
- it has an English twin, and its headings carry the English anchors (so
  `page.md#anchor` links land on the same section in both editions);
- completeness: every English page has a twin, except those listed in
  `snippets.i18n.NOT_YET_TRANSLATED`, and every listed page really lacks one.

The second half feeds the guards broken pages and requires them to fail.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snippets import i18n

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ZH_PAGES = i18n.chinese_pages(DOCS)


@pytest.mark.parametrize("name", ZH_PAGES, ids=str)
def test_translation_has_the_english_code_byte_for_byte(name):
    zh = DOCS / name
    en = i18n.english_of(zh)
    assert en.exists(), f"{name} has no English twin {en.name}"
    problems = i18n.identity_problems(
        en.read_text(encoding="utf-8"), zh.read_text(encoding="utf-8")
    )
    problems += i18n.cont_marker_problems(zh.read_text(encoding="utf-8"))
    assert problems == [], f"{name}: code differs from {en.name}:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("name", ZH_PAGES, ids=str)
def test_translation_is_stamped_with_the_current_english_page(name):
    problem = i18n.stale_problem(DOCS / name)
    assert problem is None, problem


@pytest.mark.parametrize("name", ZH_PAGES, ids=str)
def test_translation_headings_keep_the_english_anchors(name):
    zh = DOCS / name
    en = i18n.english_of(zh)
    problems = i18n.anchor_problems(
        en.read_text(encoding="utf-8"), zh.read_text(encoding="utf-8")
    )
    assert problems == [], f"{name}:\n" + "\n".join(problems)


def test_every_chinese_page_has_an_english_twin():
    orphans = [n for n in ZH_PAGES if not i18n.english_of(DOCS / n).exists()]
    assert orphans == []


def test_every_english_page_has_a_twin_or_is_listed_as_not_yet_translated():
    missing = [
        p
        for p in i18n.english_pages(DOCS)
        if not i18n.chinese_of(DOCS / p).exists() and p not in i18n.NOT_YET_TRANSLATED
    ]
    assert missing == [], (
        f"no Chinese twin and not in NOT_YET_TRANSLATED: {missing}. Translate "
        "them (then --stamp), or list them in snippets/i18n.py"
    )


def test_not_yet_translated_lists_only_english_pages_without_a_twin():
    english = set(i18n.english_pages(DOCS))
    listed = list(i18n.NOT_YET_TRANSLATED)
    assert len(listed) == len(set(listed)), "a page is listed twice"
    assert listed == sorted(listed), "keep NOT_YET_TRANSLATED sorted"
    unknown = [p for p in listed if p not in english]
    assert unknown == [], f"not English pages under docs/: {unknown}"
    translated = [p for p in listed if i18n.chinese_of(DOCS / p).exists()]
    assert translated == [], (
        f"these have a Chinese twin now: remove them from NOT_YET_TRANSLATED "
        f"in snippets/i18n.py: {translated}"
    )


# -- the guards fail when broken -----------------------------------------------

EN_PAGE = """\
# Title

Some prose with a [link](other.md#symbols).

## The scaling

```python
print(f"{8 / 4:.1f}")
```
<!--pytest-codeblocks:expected-output-->
```
2.0
```

*Continues the block above.*

<!--pytest-codeblocks:cont-->
```python
print(1)
```

$$
\\Delta W = \\gamma B A
$$

!!! note "Shell"

    ```shell
    make test
    ```

{{ read_csv('table.csv') }}

::: lora_ref.budget
    options:
      members:
        - finetune_memory

## Run this yourself

--8<-- "snippets/x.py:part"
"""

ZH_BODY = """\
# 标题

一段文字，附[链接](other.md#symbols)。

## 缩放系数 {#the-scaling}

```python
print(f"{8 / 4:.1f}")
```
<!--pytest-codeblocks:expected-output-->
```
2.0
```

*接上一个代码块。*

<!--pytest-codeblocks:cont-->
```python
print(1)
```

$$
\\Delta W = \\gamma B A
$$

!!! note "命令"

    ```shell
    make test
    ```

{{ read_csv('table.csv') }}

::: lora_ref.budget
    options:
      members:
        - finetune_memory

## 自己运行 {#run-this-yourself}

--8<-- "snippets/x.py:part"
"""


@pytest.fixture
def pair(tmp_path):
    """A stamped, correct translation of EN_PAGE: (English path, Chinese path)."""
    en = tmp_path / "page.md"
    zh = tmp_path / "page.zh.md"
    en.write_text(EN_PAGE, encoding="utf-8")
    zh.write_text(ZH_BODY, encoding="utf-8")
    i18n.stamp(zh)
    return en, zh


def test_a_correct_translation_passes_every_guard(pair):
    en, zh = pair
    assert i18n.page_problems(zh) == []
    kinds = [kind for _, kind, _ in i18n.frozen_parts(EN_PAGE)]
    assert kinds == [
        "fence", "directive", "fence", "directive", "fence", "math", "fence",
        "macro", "autodoc", "include",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ('print(f"{8 / 4:.1f}")', 'print(f"{8 / 4:.2f}")', "fence"),  # code
        ("2.0\n```", "2.00\n```", "fence"),  # expected output
        ("    make test", "    make  test", "fence"),  # a shell fence, indented
        ("<!--pytest-codeblocks:cont-->", "", "directive"),  # a directive dropped
        ("\\gamma B A", "\\gamma BA", "math"),  # display math
        ("{{ read_csv('table.csv') }}", "{{ read_csv('t.csv') }}", "macro"),
        ('"snippets/x.py:part"', '"snippets/x.py:other"', "include"),
        ("        - finetune_memory", "        - nf4_bytes", "autodoc"),
    ],
)
def test_identity_guard_fails_on_a_changed_code_item(pair, old, new, kind):
    en, zh = pair
    text = zh.read_text(encoding="utf-8")
    assert old in text
    zh.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = i18n.page_problems(zh)
    assert any(kind in p or "code items" in p for p in problems), problems


def test_a_prose_line_with_a_macro_is_translated_but_keeps_the_macro():
    en = "See [{{ repo_url }}]({{ repo_url }}). Clone it:\n"
    zh = "见 [{{ repo_url }}]({{ repo_url }})。克隆它：\n"
    assert i18n.identity_problems(en, zh) == []
    broken = "见 [{{ repo_url }}](https://example.org)。克隆它：\n"
    assert any("macro" in p for p in i18n.identity_problems(en, broken))


def test_identity_guard_fails_on_a_reordered_or_extra_fence(pair):
    en, zh = pair
    extra = "```python\nprint(2)\n```\n"
    zh.write_text(zh.read_text(encoding="utf-8") + extra, encoding="utf-8")
    assert any("code items" in p for p in i18n.page_problems(zh))


def test_stale_guard_fails_when_the_english_page_changes(pair):
    en, zh = pair
    en.write_text(EN_PAGE.replace("Some prose", "Changed prose"), encoding="utf-8")
    problem = i18n.stale_problem(zh)
    assert problem is not None
    assert "page.zh.md" in problem and "English page changed" in problem
    assert "python -m snippets.i18n --stamp" in problem
    assert problem.rstrip("`.").endswith("page.zh.md")
    # the code is unchanged, so re-stamping after the update clears it
    i18n.stamp(zh)
    assert i18n.stale_problem(zh) is None


def test_stale_guard_fails_without_a_stamp(pair):
    en, zh = pair
    zh.write_text(ZH_BODY, encoding="utf-8")
    assert "has no en_sha256 stamp" in i18n.stale_problem(zh)


def test_anchor_guard_fails_on_a_heading_without_the_english_anchor(pair):
    en, zh = pair
    text = zh.read_text(encoding="utf-8")
    zh.write_text(text.replace(" {#the-scaling}", ""), encoding="utf-8")
    problems = i18n.page_problems(zh)
    assert any("'the-scaling'" in p for p in problems), problems
    zh.write_text(text.replace("{#the-scaling}", "{#scaling}"), encoding="utf-8")
    problems = i18n.page_problems(zh)
    assert any("'scaling' is not an anchor" in p for p in problems), problems


def test_cont_guard_fails_without_the_chinese_marker(pair):
    en, zh = pair
    text = zh.read_text(encoding="utf-8").replace("*接上一个代码块。*\n", "")
    zh.write_text(text, encoding="utf-8")
    assert any("接上一个代码块" in p for p in i18n.page_problems(zh))


def test_stamp_refuses_a_translation_whose_code_differs(pair):
    en, zh = pair
    before = zh.read_text(encoding="utf-8").replace("print(1)", "print(3)")
    zh.write_text(before, encoding="utf-8")
    with pytest.raises(ValueError, match="not stamped: the code in page.zh.md"):
        i18n.stamp(zh)
    assert zh.read_text(encoding="utf-8") == before  # untouched


def test_stamp_keeps_other_front_matter_and_replaces_an_old_stamp(pair):
    en, zh = pair
    text = zh.read_text(encoding="utf-8")
    meta, body = i18n.split_front_matter(text)
    assert meta == {"en_source": "page.md", "en_sha256": i18n.sha256(en)}
    zh.write_text(
        "---\ntitle: 标题\nen_sha256: " + "0" * 64 + "\n---\n" + body, encoding="utf-8"
    )
    i18n.stamp(zh)
    meta, again = i18n.split_front_matter(zh.read_text(encoding="utf-8"))
    assert meta == {
        "title": "标题",
        "en_source": "page.md",
        "en_sha256": i18n.sha256(en),
    }
    assert again == body


def test_stamp_refuses_a_page_that_is_not_chinese(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="is not a Chinese page"):
        i18n.stamp(page)
    orphan = tmp_path / "orphan.zh.md"
    orphan.write_text("# x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no English twin"):
        i18n.stamp(orphan)


def test_cli_help_and_a_typo_do_nothing(pair, capsys):
    en, zh = pair
    before = zh.read_bytes()
    with pytest.raises(SystemExit) as done:
        i18n.main(["--help"])
    assert done.value.code == 0
    assert "--stamp" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        i18n.main(["--stmap", str(zh)])
    assert done.value.code == 2
    assert zh.read_bytes() == before


def test_cli_stamps_and_checks(pair, capsys):
    en, zh = pair
    en.write_text(EN_PAGE + "\nMore.\n", encoding="utf-8")
    assert i18n.main(["--stamp", str(zh)]) == 0
    assert i18n.stale_problem(zh) is None
    zh.write_text(zh.read_text(encoding="utf-8").replace("print(1)", "print(3)"))
    assert i18n.main(["--stamp", str(zh)]) == 1
    assert "not stamped" in capsys.readouterr().err


def test_cli_check_lists_this_repository_state(capsys):
    code = i18n.main(["--check"])
    out = capsys.readouterr().out
    for name in i18n.NOT_YET_TRANSLATED:
        assert f"MISSING {name}" in out
    assert code == 0, out


def test_pytest_codeblocks_does_not_collect_chinese_pages(tmp_path):
    (tmp_path / "page.md").write_text("```python\nprint(1)\n```\n", encoding="utf-8")
    (tmp_path / "page.zh.md").write_text(
        "```python\nraise SystemExit('ran')\n```\n", encoding="utf-8"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:xdist"]
        + ["-p", "no:cacheprovider", "--codeblocks", "-q", "-rA", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "PASSED page.md::line 1" in done.stdout, done.stdout + done.stderr
    assert "page.zh.md" not in done.stdout
    assert done.returncode == 0
