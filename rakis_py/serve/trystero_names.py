"""How the page names its Trystero rooms, and which Nostr event kind a room's announcements use.

Mirrors web/js/transport/rooms.js (appId = topic, roomId = topic + "T", as v1 did) and Trystero 0.25
(@trystero-p2p/core strategy.mjs: root topic = sha1("Trystero@" + appId + "@" + roomId), each byte
in base 36; @trystero-p2p/nostr: kind = 20000 + sum of the topic's char codes % 10000). serve uses it
to refuse a network name whose kind the local relay would reject."""

from __future__ import annotations

import hashlib

DEFAULT_TOPIC = "rakis2"


def room_names(topic: str) -> tuple[str, str]:
    """(appId, roomId) of a network name."""
    return topic, topic + "T"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def sha1_topic(text: str) -> str:
    """Trystero's topic hash: SHA-1, each byte written in base 36, concatenated (not hex)."""
    return "".join(_base36(b) for b in hashlib.sha1(text.encode()).digest())


def root_topic(app_id: str, room_id: str) -> str:
    return sha1_topic(f"Trystero@{app_id}@{room_id}")


def nostr_kind(topic_hash: str) -> int:
    return 20000 + sum(ord(c) for c in topic_hash) % 10000


def network_kind(topic: str) -> int:
    """The Nostr kind of a network's room announcements."""
    return nostr_kind(root_topic(*room_names(topic)))
