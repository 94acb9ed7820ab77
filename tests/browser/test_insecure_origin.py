"""A page opened over plain http from another host (a LAN address) is not a secure context: the
browser gives it no crypto.subtle. The node must stop at once with an error that says so and what
to do, not fail later somewhere inside Trystero or the identity form. The other host is simulated
with a resolver rule: lan.test -> 127.0.0.1 (an origin chromium does not treat as secure)."""
import pytest

from tests.build.support import chromium_launcher

pytestmark = pytest.mark.browser


def test_insecure_origin_stops_with_a_clear_error(request, node_url):
    browser = chromium_launcher(request)(["--host-resolver-rules=MAP lan.test 127.0.0.1"])
    try:
        page = browser.new_context(bypass_csp=True).new_page()   # wait_for_function needs eval
        page.goto(node_url.replace("127.0.0.1", "lan.test"))
        assert page.evaluate("window.isSecureContext") is False
        page.wait_for_function("document.body.dataset.ready === 'failed'", timeout=30_000)
        text = page.inner_text("#errors")
        assert "not a secure context" in text and "https" in text and "lan.test" in text, text
    finally:
        browser.close()
