"""`rakis node` without a browser: a relay that is down at start is one clear error line, retried
with backoff (no busy loop), and joined when it comes up; two CPython nodes then link with each
other over it (aiortc on both ends) and leave cleanly. Skips without nostr-sdk or aiortc."""
from __future__ import annotations

import re
import time

import pytest

from rakis_py.serve.ports import free_port
from rakis_py.serve.relays import NostrRelay


@pytest.fixture
def needs_nostr():
    why = NostrRelay.available()
    if why:
        pytest.skip(why)


def test_relay_down_at_start_then_up(needs_nostr, start_node, tmp_path):
    port = free_port("127.0.0.1")
    url = f"ws://127.0.0.1:{port}"
    args = ["--topic", "rakis-outage", "--nostr", url]
    a = start_node(args, tmp_path / "a")
    a.wait_log(rf"ERROR rakis\.node\.relay: nostr relay {re.escape(url)} is unreachable \(", 20)
    time.sleep(6)
    # Backoff 1, 2, 4 s (+-25%): at most 4 attempts in the first 6 s, not a busy loop.
    attempts = 1 + len(re.findall(r"still unreachable", a.log()))
    assert 2 <= attempts <= 4, a.log()
    relay = NostrRelay("127.0.0.1", port).start()
    try:
        a.wait_log(rf"nostr relay {re.escape(url)} is reachable again", 20)
        b = start_node(args, tmp_path / "b")
        b.wait_log(rf"nostr: peer \S+ is node {a.synthient_id}", 60)
        a.wait_log(rf"nostr: peer \S+ is node {b.synthient_id}", 30)
        assert b.stop() == 0
        a.wait_log(r"nostr: peer \S+ gone \(peer left\)", 10)
    finally:
        relay.stop()
