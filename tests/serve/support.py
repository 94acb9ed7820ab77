"""Helpers of the serve tests: process checks and tiny protocol clients."""
from __future__ import annotations

import json
import os
import time
import urllib.request


def pid_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once `pid` no longer exists (a zombie counts as existing: it was not reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def get(url: str, headers: dict | None = None):
    """(status, headers, body) of a GET."""
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.headers, r.read()


def nostr_event(kind: int, content: str, tags: list[list[str]]) -> dict:
    """A signed Nostr event (BIP-340) made with nostr-sdk, as the JSON object a client sends."""
    import nostr_sdk as n
    keys = n.Keys.generate()
    unsigned = n.EventBuilder(n.Kind(kind), content).tags([n.Tag.parse(t) for t in tags])
    return json.loads(keys.sign_event(unsigned.finalize_unsigned(keys.public_key())).as_json())
