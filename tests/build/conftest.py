"""Fixtures of the build tests: one dist (build.py is a no-op when dist is up to date and intact,
seconds on a warm cache otherwise), one static server, one headless chromium for the whole session."""
import subprocess
import sys
from pathlib import Path

import pytest

from .support import BLANK_PAGE, chromium_launcher, serve

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


def pytest_configure(config):
    config.addinivalue_line("markers", "build: tests of build.py and the built static site (slow on a cold cache)")


@pytest.fixture(scope="session")
def dist() -> Path:
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(DIST)], check=True)
    return DIST


@pytest.fixture(scope="session")
def base_url(dist):
    with serve(dist) as url:
        yield url


@pytest.fixture(scope="session")
def launch(request):
    """launch(extra_args) -> a headless Debian chromium (closed at session end)."""
    start = chromium_launcher(request)
    browsers = []

    def _launch(extra_args=()):
        browsers.append(start(extra_args))
        return browsers[-1]
    yield _launch
    for b in browsers:
        b.close()


@pytest.fixture(scope="session")
def browser(launch):
    return launch()


def open_page(browser, base_url):
    """A blank page of the site's origin; requests to anything but the local server are aborted and
    listed in page.offsite (the site must work with no network)."""
    context = browser.new_context()
    page = context.new_page()
    page.offsite = []
    page.failed = []

    def route(r):
        if r.request.url.startswith(base_url):
            r.continue_()
        else:
            page.offsite.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("requestfailed", lambda req: page.failed.append(req.url))
    page.goto(base_url + BLANK_PAGE.lstrip("/"))
    return page


@pytest.fixture(scope="session")
def page(browser, base_url):
    """One page for the session (see open_page)."""
    page = open_page(browser, base_url)
    yield page
    page.context.close()
