"""Fixtures shared by every test folder."""

import pytest


@pytest.fixture(scope="session")
def playwright_session():
    """The one Playwright driver of the run. Playwright's sync API refuses to start while another
    instance is running, so the build, browser, serve and network tests all launch from this one."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (requirements/test.in)")
    pw = sync_api.sync_playwright().start()
    yield pw
    pw.stop()
