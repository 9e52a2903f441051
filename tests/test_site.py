"""The site builds strictly, and every built page works offline in a real browser.

The build runs `mkdocs build --strict` (broken links, missing anchors, missing
snippet files and external assets found by the privacy plugin are all
errors). The browser check serves the built site on 127.0.0.1, opens every
page in Debian's headless Chromium, aborts and records every request that
leaves 127.0.0.1, and requires: no console error, no page error, no failed
request, no external request, every image loaded, every formula rendered by
the vendored KaTeX, and a working search.
"""

from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
pytestmark = pytest.mark.slow  # builds the site; the browser tests start Chromium


def test_site_builds_with_strict_and_no_warnings(site_build):
    site, done = site_build
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (site / "index.html").exists()


def test_no_page_references_an_external_script_style_or_font(site_dir):
    for page in site_dir.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for needle in (
            'src="http',
            'href="https://fonts',
            "cdn.jsdelivr",
            "unpkg.com/",
        ):
            if needle == "unpkg.com/" and "unpkg.com/mermaid@" in html:
                html = html.replace("unpkg.com/mermaid@", "")  # lazy URL, never loaded
            assert needle not in html, (
                f"{page.relative_to(site_dir)} references {needle}"
            )


def pages(site: Path) -> list[str]:
    return sorted(
        str(p.parent.relative_to(site)).replace(".", "") + "/"
        if p.parent != site
        else ""
        for p in site.rglob("index.html")
        if "assets" not in p.parts and p.parent.name != "404"
    )


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.problems = problems = []

    def loopback_only(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            return route.continue_()
        problems.append(f"external request: {route.request.url}")
        return route.abort()

    page.route("**/*", loopback_only)
    page.on(
        "console", lambda m: m.type == "error" and problems.append(f"console: {m.text}")
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}")
    )
    yield page
    context.close()


class IgnoreTags(yaml.SafeLoader):
    """Read mkdocs.yml safely; a !!python/name or !ENV tag becomes None."""


IgnoreTags.add_multi_constructor("", lambda loader, suffix, node: None)


def nav_files(nav: list | dict | str) -> list[str]:
    """Every file named in mkdocs.yml's nav, sections flattened, in order."""
    if isinstance(nav, str):
        return [] if "://" in nav else [nav]  # external links are not pages
    items = nav.values() if isinstance(nav, dict) else nav
    return [f for item in items for f in nav_files(item)]


def docs_pages() -> list[str]:
    """Every page source under docs/ (Markdown and notebooks), assets aside."""
    return sorted(
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*")
        if p.suffix in (".md", ".ipynb") and "assets" not in p.parts
    )


def test_every_page_is_listed(site_dir):
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=IgnoreTags)
    listed = nav_files(config["nav"])
    assert len(listed) == len(set(listed)), "a page is listed twice in nav"
    missing = sorted(set(listed) - set(docs_pages()))
    assert not missing, f"nav names pages that do not exist: {missing}"
    unlisted = sorted(set(docs_pages()) - set(listed))
    assert not unlisted, f"pages missing from nav in mkdocs.yml: {unlisted}"
    built = set(pages(site_dir))
    urls = [
        "" if f == "index.md" else f.rsplit(".", 1)[0].removesuffix("/index") + "/"
        for f in listed
    ]
    assert sorted(u for u in urls if u not in built) == [], "listed but not built"
    assert sorted(built - set(urls)) == [], "built but not listed"


def test_the_nav_check_sees_nested_sections_and_skips_external_links():
    nav = [
        {"Home": "index.md"},
        {"Part": [{"A": "a.md"}, {"Deep": [{"B": "b/c.ipynb"}]}, "d.md"]},
        {"Elsewhere": "https://example.org/"},
    ]
    assert nav_files(nav) == ["index.md", "a.md", "b/c.ipynb", "d.md"]


def test_every_page_renders_offline_with_math_images_and_no_errors(
    page, base_url, site_dir
):
    failures = {}
    for path in pages(site_dir):
        page.problems.clear()
        page.goto(base_url + path, wait_until="networkidle")
        broken_images = page.evaluate(
            "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.src)"
        )
        math_total = page.locator(".arithmatex").count()
        if math_total:
            page.wait_for_selector(".arithmatex .katex", timeout=10_000)
        unrendered = page.locator(".arithmatex:not(:has(.katex))").count()
        errors = page.locator(".katex-error").count()
        found = list(page.problems)
        if broken_images:
            found.append(f"images not loaded: {broken_images}")
        if unrendered or errors:
            found.append(f"math: {unrendered} unrendered, {errors} KaTeX errors")
        if found:
            failures[path or "/"] = found
    report = "\n".join(
        f"{path}: {problem}" for path, found in failures.items() for problem in found
    )
    assert not failures, report


def test_katex_fonts_come_from_the_vendored_copy(page, base_url):
    page.goto(base_url + "notation/", wait_until="networkidle")
    page.wait_for_selector(".arithmatex .katex")
    page.evaluate("document.fonts.ready")
    loaded = page.evaluate(
        "[...document.fonts]"
        ".filter(f => f.family.includes('KaTeX') && f.status === 'loaded')"
        ".length"
    )
    assert loaded > 0
    assert page.problems == []


def test_search_finds_lora(page, base_url):
    page.goto(base_url, wait_until="networkidle")
    page.keyboard.press("/")
    page.locator("input.md-search__input").press_sequentially("LoRA", delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    assert page.locator(".md-search-result__item").count() > 0
    assert page.problems == []


def test_light_dark_toggle_switches_the_color_scheme(page, base_url):
    page.goto(base_url, wait_until="networkidle")
    before = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    after = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    assert {before, after} == {"default", "slate"}
    assert page.problems == []
