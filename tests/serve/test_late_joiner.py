"""Pages that have been up for more than a minute still link with a newcomer and with a reloaded
page, on both channels. Trystero 0.25.4 restarts ICE on pooled offers older than 57 s and loses
their candidates, so without build_support/trystero_patches.py every such pair failed ("could not
connect to peer ... after exchanging SDP") and the network tests' hostile peer and reloaded tab
stayed unlinked. Bare transport pages (no node, no models), each in its own browser context."""
import json
import secrets
import time

import pytest

from tests.serve.test_transport_browser import transport_site

pytestmark = pytest.mark.browser

OLD_PAGES = 3
# Past Trystero's offer TTL (57.3 s): the old pages' first offers have aged out.
AGE_S = 62
# A pair whose WebRTC handshake times out (Trystero: 10 s) is retried only when one side announces
# again, and after the first few seconds the relays' announce cadence is 60 s: 30 s and then 60 s
# flaked on fresh clones (one pair on mqtt, later one on nostr, "handshake timed out after
# 10000ms"). 150 s covers two announce rounds; without the offer-TTL patch pairs never link at all.
LINK_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    with transport_site(tmp_path_factory.mktemp("late-site"), f"late-{secrets.token_hex(4)}",
                        request.getfixturevalue("playwright_session")) as (url, browser, _):
        yield {"url": url, "browser": browser}


def _open(site, sid):
    page = site["browser"].new_context().new_page()
    page.goto(f"{site['url']}?id={sid}")
    page.wait_for_function("window.ready === true", timeout=15_000)
    return page


def _missing(pages):
    """(page index, channel, id8) for every link not named by a hello yet."""
    out = []
    for i, (sid, page) in enumerate(pages):
        links = page.evaluate("transport.peers()")
        for channel in ("nostr", "mqtt"):
            named = {x["synthientId"] for x in links if x["channel"] == channel}
            out += [(i, channel, o[:8]) for o, _ in pages if o != sid and o not in named]
    return out


def _wait_mesh(pages, timeout_s=LINK_TIMEOUT_S):
    t0 = time.monotonic()
    while (missing := _missing(pages)) and time.monotonic() - t0 < timeout_s:
        time.sleep(0.5)
    errors = [p.evaluate("transport.channels().map(c => [c.name, c.lastError])") for _, p in pages]
    assert not missing, f"links missing after {timeout_s} s: {missing}; last errors {json.dumps(errors)[:1500]}"
    return time.monotonic() - t0


def test_old_pages_link_with_a_newcomer_and_a_reloaded_page(site):
    pages = [(sid, _open(site, sid)) for sid in (secrets.token_hex(32) for _ in range(OLD_PAGES))]
    started = time.monotonic()
    print(f"\n{OLD_PAGES} pages meshed in {_wait_mesh(pages):.1f} s")
    time.sleep(max(0.0, AGE_S - (time.monotonic() - started)))
    sid = secrets.token_hex(32)
    pages.append((sid, _open(site, sid)))
    print(f"a newcomer linked with pages {AGE_S} s old in {_wait_mesh(pages):.1f} s")
    old_sid, old = pages[0]
    old.reload()
    old.wait_for_function("window.ready === true", timeout=15_000)
    print(f"a reloaded page re-linked in {_wait_mesh(pages):.1f} s")
