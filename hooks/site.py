"""MkDocs hooks for the whole site (listed under `hooks:` in mkdocs.yml).

1. Provenance: at build time, record the versions of torch, peft,
   transformers (and bitsandbytes where installed) and the git commit, for the
   footer of every page (overrides/partials/copyright.html).
2. `{{ repo_url }}` in a page's Markdown becomes the configured `repo_url`,
   so the repository's address lives in one setting (mkdocs.yml, REPO_URL).
   Output blocks (the fence after `<!--pytest-codeblocks:expected-output-->`)
   get an "Output" title, the `md-output` class and no copy button; the line
   `*Continues the block above.*` (on Chinese pages `*接上一个代码块。*`) gets
   the `md-continues` class. Only the
   rendering changes: pytest-codeblocks reads the Markdown files themselves.
   Table-of-contents links whose heading contains code (mkdocs-jupyter drops
   the code from the TOC's anchor, so the link is dead) point at the real
   heading id, and the TOC shows the code's text.
3. Search: the index gets plain text instead of TeX source (result excerpts
   showed `\\frac{\\alpha}{r}`), and a few abbreviations readers type
   ("OOM") are added to the sections that spell them out.
4. The one-page handbook (mkdocs-print-site-plugin, print_page/): an
   interactive form (the memory calculator) is replaced by a note, since the
   plugin renames its fields and a form does nothing on paper.
5. The Chinese edition (mkdocs-static-i18n builds / and then /zh/ in one run,
   so every API object has two URLs): autorefs resolves a reference to the
   URL closest to the page (`resolve_closest` in mkdocs.yml), but the one-page
   handbook asks without a page; such a lookup is answered from the home page
   of the language being built, so print_page/ and zh/print_page/ each get
   their own edition's anchors instead of a "Multiple primary URLs" warning.
   mkdocs-print-site-plugin knows nothing of languages: in the /zh/ build it
   would write its page over the English print_page/. The one-page handbook
   is English only: the plugin is switched off for the other languages'
   builds, and their pages link to the English print_page/. The same goes
   for 404.html (one per site, at its root: GitHub Pages serves only that
   one): the /zh/ build would overwrite the English one.
   The page head loses its `<link rel="alternate" hreflang>` tags: Material's
   script fetches `<that address>/sitemap.xml` for each (a 404 and a console
   error on every page, since mkdocs-static-i18n points them at the page's
   twin, not at a language root). The language menu links each page to its
   twin directly, and sitemap.xml lists every page's alternates for search
   engines.
   mkdocs-static-i18n rebuilds the file list after mkdocs-jupyter has turned
   the notebook into a page, so the notebook would be copied as a raw .ipynb
   to its page's address: in the English build the notebook is made a page
   again, and the /zh/ build copies nothing over it (its nav links the
   English notebook page: the notebook is English only, see
   docs/finetune-causal-lm.zh.md).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

PACKAGES = ("torch", "peft", "transformers", "bitsandbytes")
OPTIONAL = {"bitsandbytes"}  # named in the footer only where installed

# section title (lower case) -> words added to its search text
SEARCH_ALIASES = {
    "out of memory": "OOM",
}


# -- 1. provenance -----------------------------------------------------------


def package_versions() -> list[tuple[str, str]]:
    found = []
    for name in PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            if name not in OPTIONAL:
                found.append((name, "not installed"))
    return found


def git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


@event_priority(-110)  # after mkdocs-static-i18n's on_config (-100): its language
def on_config(config: Any) -> Any:
    answer_pageless_lookups_per_language(config)
    print_site_only_in_the_default_language(config)
    not_found_page_only_in_the_default_language(config)
    root = Path(config.config_file_path).parent
    commit = git(root, "rev-parse", "HEAD")
    dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no"))
    config.extra["provenance"] = {
        "packages": package_versions(),
        "commit": commit,
        "commit_short": commit[:7] or "unknown",
        "dirty": dirty,
    }
    return config


# -- 2. the repository's address -----------------------------------------------

REPO_TOKEN = re.compile(r"\{\{\s*repo_url\s*\}\}")


OUTPUT_FENCE = re.compile(
    r"^(?P<directive>[ \t]*<!--\s*pytest-codeblocks:expected-output"
    r"(?:-ignore-whitespace)?\s*-->[ \t]*\n)(?P<indent>[ \t]*)(?P<fence>`{3,})[ \t]*$",
    re.MULTILINE,
)
OUTPUT_ATTRS = '{ .text .md-output .no-copy title="Output" }'
CONTINUES = "<p><em>Continues the block above.</em></p>"
CONTINUES_ZH = "<p><em>接上一个代码块。</em></p>"  # the Chinese pages' marker


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = REPO_TOKEN.sub((config.repo_url or "").rstrip("/"), markdown)
    return OUTPUT_FENCE.sub(
        lambda m: f"{m['directive']}{m['indent']}{m['fence']} {OUTPUT_ATTRS}",
        markdown,
    )


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    if not is_default_language(config):  # the one-page handbook is English only
        html = html.replace('href="print_page/"', 'href="../print_page/"')
    html = html.replace(
        CONTINUES_ZH, '<p class="md-continues"><em>接上一个代码块。</em></p>'
    )
    return html.replace(
        CONTINUES,
        '<p class="md-continues"><em>Continues the block above.</em></p>',
    )


HEADING = re.compile(r'<h([1-6])[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")
ANCHOR_LINK = re.compile(r'<a class="(?:anchor-link|headerlink)".*?</a>', re.DOTALL)


def slug(text: str) -> str:
    """python-markdown's default toc slugify, as mkdocs-jupyter uses it."""
    text = re.sub(r"[^\w\s-]", "", html.unescape(text)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def heading_text(inner: str) -> str:
    return html.unescape(TAG.sub("", ANCHOR_LINK.sub("", inner))).strip()


def fix_toc(items: list, ids: set[str], by_slug: dict[str, tuple[str, str]]) -> None:
    for item in items:
        if item.id not in ids and item.id in by_slug:
            item.id, item.title = by_slug[item.id]
        fix_toc(item.children, ids, by_slug)


def on_page_context(context: dict, page: Any, config: Any, nav: Any) -> dict:
    if not page.content or not page.toc:
        return context
    ids, by_slug = set(), {}
    for match in HEADING.finditer(page.content):
        ids.add(match[2])
        without_code = re.sub(r"<code>.*?</code>", "", match[3], flags=re.DOTALL)
        by_slug[slug(heading_text(without_code))] = (match[2], heading_text(match[3]))
    fix_toc(list(page.toc), ids, by_slug)
    return context


# -- 3. search text without TeX ----------------------------------------------

SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε",
    "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "nu": "ν", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "psi": "ψ", "omega": "ω",
    "Delta": "Δ", "Gamma": "Γ", "Lambda": "Λ", "Sigma": "Σ", "Phi": "Φ",
    "Omega": "Ω", "times": "×", "cdot": "·", "partial": "∂", "top": "ᵀ",
    "in": "∈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠",
    "neq": "≠", "approx": "≈", "sim": "~", "ll": "≪", "gg": "≫", "to": "→",
    "leftarrow": "←", "rightarrow": "→", "sum": "Σ", "infty": "∞",
    "lVert": "‖", "rVert": "‖", "lvert": "|", "rvert": "|", "dots": "…",
    "ldots": "…", "cdots": "…", "quad": " ", "qquad": " ", "left": "",
    "right": "", "min": "min", "max": "max", "log": "log", "exp": "exp",
}  # fmt: skip
LETTERS = {"mathcal": {"L": "ℒ"}, "mathbb": {"R": "ℝ", "E": "𝔼"}}
MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
ONE_ARG = re.compile(r"\\(text|mathrm|operatorname|mathbf|mathcal|mathbb)\{([^{}]*)\}")


def tex_to_text(tex: str) -> str:
    """A readable plain-text rendering of a formula, for search excerpts."""
    text = tex
    for _ in range(5):  # innermost first, for nested \frac and \sqrt
        text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
        text = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", text)
        text = re.sub(r"\\bar\{([^{}]*)\}", "\\1\u0304", text)
        text = re.sub(r"\\hat\{([^{}]*)\}", "\\1\u0302", text)
        text = ONE_ARG.sub(lambda m: LETTERS.get(m[1], {}).get(m[2], m[2]), text)
    text = re.sub(r"\((\w)\)/\((\w)\)", r"\1/\2", text)  # (α)/(r) -> α/r
    text = re.sub(r"√\((\w)\)", r"√\1", text)
    text = re.sub(r"\\([A-Za-z]+)", lambda m: SYMBOLS.get(m[1], m[1]), text)
    text = re.sub(r"\\[,;:! ]", " ", text)
    text = text.replace("^ᵀ", "ᵀ").replace("{", "").replace("}", "")
    text = re.sub(r"_(\w)", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def plain_search_text(text: str) -> str:
    return MATH.sub(lambda m: tex_to_text(m[1] or m[2]), text)


FORM = re.compile(r"<form\b(?![^>]*class=\"md-)[^>]*>.*?</form>", re.DOTALL)
FORM_NOTE = (
    '<p class="md-print-note"><em>An interactive form is here on the web page '
    "of this chapter; it does not work on paper or in this one-page copy.</em></p>"
)


# after mkdocs-static-i18n's on_post_build (-100): it builds /zh/ there and then
# writes the search index of both editions again
@event_priority(-200)
def on_post_build(config: Any) -> None:
    print_page = Path(config.site_dir) / "print_page" / "index.html"
    if print_page.exists():
        text = without_head_alternates(print_page.read_text(encoding="utf-8"), config)
        print_page.write_text(FORM.sub(FORM_NOTE, text), encoding="utf-8")
    index_file = Path(config.site_dir) / "search" / "search_index.json"
    if not index_file.exists():
        return
    index = json.loads(index_file.read_text(encoding="utf-8"))
    for doc in index.get("docs", []):
        doc["text"] = plain_search_text(doc.get("text", ""))
        doc["title"] = plain_search_text(doc.get("title", ""))
        alias = SEARCH_ALIASES.get(doc["title"].strip().lower())
        if alias and f"({alias})" not in doc["text"]:
            doc["text"] += f" ({alias})"
    index_file.write_text(
        json.dumps(index, ensure_ascii=False, separators=(",", ":")),
        encoding="utf-8",
    )


# -- 5. the Chinese edition: autorefs lookups without a page -------------------


def answer_pageless_lookups_per_language(config: Any) -> None:
    """Make autorefs answer a lookup without `from_url` for the current language.

    mkdocs-print-site-plugin resolves the references of the one-page handbook
    with `get_item_url(identifier)`, no page given. With two editions built
    in one run, autorefs then finds two URLs and warns (a strict-build error).
    The wrapper asks on behalf of the current edition's home page instead
    (the language is read at lookup time: i18n switches it between builds).
    """
    autorefs = config.plugins.get("autorefs")
    i18n = config.plugins.get("i18n")
    if autorefs is None or i18n is None or getattr(autorefs, "_i18n_wrapped", False):
        return
    lookup = autorefs.get_item_url

    def get_item_url(identifier: str, from_url: str | None = None, *args, **kwargs):
        if from_url is None:
            language = i18n.current_language
            home = "" if language in (None, i18n.default_language) else f"{language}/"
            return lookup(identifier, home, *args, **kwargs)
        return lookup(identifier, from_url, *args, **kwargs)

    autorefs.get_item_url = get_item_url
    autorefs._i18n_wrapped = True


def current_language(config: Any) -> tuple[str | None, str | None]:
    """(language being built, default language); (None, None) without i18n."""
    i18n = config.plugins.get("i18n")
    if i18n is None:
        return None, None
    return i18n.current_language, i18n.default_language


def is_default_language(config: Any) -> bool:
    language, default = current_language(config)
    return language is None or language == default


def print_site_only_in_the_default_language(config: Any) -> None:
    print_site = config.plugins.get("print-site")
    if print_site is not None and config.plugins.get("i18n") is not None:
        print_site.config["enabled"] = is_default_language(config)


HEAD_ALTERNATE = re.compile(
    r'[ \t]*<link\b[^>]*\brel="alternate"[^>]*\bhreflang="[^>]*>\n?'
)


def without_head_alternates(output: str, config: Any) -> str:
    if config.plugins.get("i18n") is None:
        return output
    head_end = output.find("</head>")
    return HEAD_ALTERNATE.sub("", output[:head_end]) + output[head_end:]


def on_post_page(output: str, page: Any, config: Any) -> str:
    return without_head_alternates(output, config)


def on_post_template(output_content: str, template_name: str, config: Any) -> str:
    if not template_name.endswith(".html"):  # 404.html; not sitemap.xml
        return output_content
    return without_head_alternates(output_content, config)


@event_priority(-110)  # after mkdocs-static-i18n's on_files (-100)
def on_files(files: Any, config: Any) -> Any:
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is None or config.plugins.get("i18n") is None:
        return files
    from mkdocs_jupyter.plugin import NotebookFile

    if not is_default_language(config):
        # the nav links the English notebook page; the raw .ipynb this build
        # would copy to that page's address must not overwrite it
        for file in files:
            if not isinstance(file, NotebookFile) and jupyter.should_include(file):
                file.copy_file = lambda dirty=False: None
        return files

    for file in list(files):
        if not isinstance(file, NotebookFile) and jupyter.should_include(file):
            files.remove(file)
            files.append(NotebookFile(file, **config))
    return files


def not_found_page_only_in_the_default_language(config: Any) -> None:
    if config.plugins.get("i18n") is None:
        return
    templates = config.theme.static_templates
    if is_default_language(config):
        templates.add("404.html")
    else:
        templates.discard("404.html")
