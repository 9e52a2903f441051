"""Shared fixtures: the site built once per session, served on 127.0.0.1.

The site is built twice: for the root (`site_build`, `base_url`) and for a
sub-path (`subpath_build`, `subpath_url`: what a project site on GitHub
Pages gets). The test server answers a missing page the way GitHub Pages
does: status 404 with the site's own 404.html.

Also gives the `gpu` marker its meaning: a test marked `gpu` is skipped,
with a reason in the report, on a machine without CUDA.
"""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the system browser: $CHROMIUM if set, else Debian's chromium, else Chrome
CHROMIUM = os.environ.get("CHROMIUM") or next(
    filter(
        None,
        map(
            shutil.which,
            ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"),
        ),
    ),
    None,
)
ROOT_SITE_URL = "http://127.0.0.1:8000/"
SUBPATH = "peft-handbook/"  # as in https://<owner>.github.io/peft-handbook/


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch  # only when a gpu test was collected

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="marked gpu: needs a CUDA GPU, and none is here")
    for item in gpu_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright; one per test session.

    Playwright's sync API cannot be started twice at once, so every browser
    test shares this fixture. Never `playwright install`: that downloads a
    browser build, and the project uses the system Chromium.
    """
    if CHROMIUM is None:
        pytest.skip(
            "SKIPPED LOUDLY: no system Chromium found. Install Debian's `chromium` "
            "package (apt-get install chromium); .ci/run does this in CI."
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def build_site(site: Path, site_url: str) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` into `site`, for a site published at `site_url`."""
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1", "SITE_URL": site_url}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The site built for the root: (site dir, the run)."""
    site = tmp_path_factory.mktemp("site")
    return site, build_site(site, ROOT_SITE_URL)


@pytest.fixture(scope="session")
def site_dir(site_build) -> Path:
    site, done = site_build
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}")
    return site


@pytest.fixture(scope="session")
def subpath_dir(tmp_path_factory, site_dir) -> Path:
    """The site built for http://127.0.0.1/peft-handbook/ (site_dir first)."""
    site = tmp_path_factory.mktemp("subpath-site")
    done = build_site(site, ROOT_SITE_URL.rstrip("/") + "/" + SUBPATH)
    if done.returncode != 0:
        pytest.fail(f"sub-path build failed:\n{done.stdout}\n{done.stderr}")
    return site


def serve(prefix: str, directory: Path):
    """Serve `directory` under URL path `prefix` on 127.0.0.1; yield its URL."""
    handler = functools.partial(PagesHandler, prefix=prefix, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{prefix}"
    server.shutdown()


@pytest.fixture(scope="session")
def base_url(site_dir):
    yield from serve("", site_dir)


@pytest.fixture(scope="session")
def subpath_url(subpath_dir):
    yield from serve(SUBPATH, subpath_dir)


class PagesHandler(http.server.SimpleHTTPRequestHandler):
    """Static files under a URL prefix; a miss gets 404.html with status 404."""

    def __init__(self, *args, prefix: str, directory: Path, **kwargs) -> None:
        self.prefix = "/" + prefix
        self.site = Path(directory)
        super().__init__(*args, directory=str(directory), **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith(self.prefix):
            return str(self.site / "__outside_the_site__")
        return super().translate_path("/" + path[len(self.prefix) :])

    def send_error(self, code: int, message: str | None = None, explain=None) -> None:
        page = self.site / "404.html"
        if code != 404 or not page.exists():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output readable
        pass
