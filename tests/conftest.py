"""Shared fixtures: the site built once per session, served on 127.0.0.1.

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
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`mkdocs build --strict` into a temporary directory: (site dir, the run)."""
    site = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return site, done


@pytest.fixture(scope="session")
def site_dir(site_build) -> Path:
    site, done = site_build
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}")
    return site


@pytest.fixture(scope="session")
def base_url(site_dir):
    handler = functools.partial(QuietHandler, directory=site_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass
