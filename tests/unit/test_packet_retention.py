"""Replay after a restart: the packets table keeps every packet of the replay window (up to
seen_cap), so a node restored after more than 5,000 packets still refuses a replay of the first.
The page's IndexedDB adapter (web/js/idb.js) applies the same rule; tests/browser/test_faults_replay.py
runs it there, and this file checks that its constants are the core's."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rakis_py.protocol import builders
from rakis_py.protocol.actions import Persist
from rakis_py.protocol.notices import PacketSeen
from rakis_py.protocol.events import PacketReceived
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.node import Node, NodeConfig
from rakis_py.protocol.timefmt import format_js_date
from rakis_py.runtime.sqlite_store import SqliteStorage
from rakis_py.runtime.storage import (DEFAULT_PACKET_CAP, DEFAULT_SEEN_CAP, REPLAY_WINDOW_MS,
                                      MemoryStorage, packets_kept)

IDB_JS = Path(__file__).resolve().parents[2] / "web" / "js" / "idb.js"
T0 = 1_750_000_000_000
N = DEFAULT_PACKET_CAP + 1_000          # more than the old 5,000-row cap


def test_constants_are_the_cores():
    config = NodeConfig()
    assert DEFAULT_SEEN_CAP == config.seen_cap
    assert REPLAY_WINDOW_MS == config.replay_past_ms + config.replay_future_ms
    js = IDB_JS.read_text()

    def const(name):
        expr = re.search(rf"export const {name} = ([0-9_ *]+);", js).group(1)
        return eval(expr.replace("_", ""))  # noqa: S307 - digits, underscores and * only

    assert const("PACKET_CAP") == DEFAULT_PACKET_CAP
    assert const("SEEN_CAP") == DEFAULT_SEEN_CAP
    assert const("REPLAY_WINDOW_MS") == REPLAY_WINDOW_MS


@pytest.mark.parametrize("total, in_window, cap, seen_cap, kept", [
    (10, 0, 5, 100, 5),          # all old: the count cap
    (10, 8, 5, 100, 8),          # the window keeps more than the cap
    (10, 3, 5, 100, 5),          # the cap keeps more than the window
    (10, 10, 5, 7, 7),           # the window bounded by seen_cap
    (4, 4, 5, 100, 4),           # under the cap
    (10, 10, 0, 7, 10),          # no cap: everything
    (10, 10, 5, None, 10),       # no seen_cap bound
])
def test_packets_kept(total, in_window, cap, seen_cap, kept):
    assert packets_kept(total, in_window, cap, seen_cap) == kept


def heartbeats(sender: Identity, n: int, t0: int) -> list[dict]:
    """n distinct signed packets from one sender, created at t0 (each a distinct signature)."""
    created = format_js_date(t0)
    return [sender.envelope(builders.peer_heart(i / n, 0.5, created)) for i in range(n)]


def feed(node: Node, store, envelopes: list[dict], t0: int, step_ms: int, batch: int = 50) -> int:
    """Deliver the envelopes step_ms apart; their writes go to the store `batch` packets at a time."""
    now, writes = t0, []
    for i, env in enumerate(envelopes, 1):
        now += step_ms
        writes += [a for a in node.handle(PacketReceived(env, "nostr", now), now) if isinstance(a, Persist)]
        if i % batch == 0 or i == len(envelopes):
            store.apply(writes)
            writes = []
    return now


def outcome(actions) -> str:
    persisted = any(isinstance(a, Persist) and a.table == "packets" for a in actions)
    emitted = [a.outcome for a in actions if isinstance(a, PacketSeen)]
    return "accepted" if persisted else (emitted[0] if emitted else "none")


@pytest.fixture(params=["sqlite", "memory"])
def make_store(request, tmp_path):
    def make(**kw):
        if request.param == "memory":
            return MemoryStorage(**kw)
        return SqliteStorage(tmp_path / "node.db", synchronous="OFF", **kw)
    return make


@pytest.mark.parametrize("window_ms, expected", [(REPLAY_WINDOW_MS, "duplicate"),
                                                 (0, "accepted")])   # 0: the old count cap alone
def test_restored_node_refuses_replay_of_first_packet(make_store, window_ms, expected):
    rng = random.Random(3)
    me = Identity.generate(rng.randbytes(32))
    sender = Identity.generate(rng.randbytes(32))
    config = NodeConfig(status_updates=False)
    node = Node(config, me, random.Random(1))
    store = make_store(window_ms=window_ms)
    envelopes = heartbeats(sender, N, T0)
    now = feed(node, store, envelopes, T0, step_ms=20)      # 6,000 packets in 2 minutes: 50/s
    assert now - T0 < REPLAY_WINDOW_MS
    assert store.count("packets") == (N if window_ms else DEFAULT_PACKET_CAP)

    restored, _ = Node.restore(config, me, random.Random(2), store.load_all(), now + 1000)
    replay = restored.handle(PacketReceived(envelopes[0], "mqtt", now + 1000), now + 1000)
    assert outcome(replay) == expected
    # A new packet is still accepted (the memory is not simply refusing everything).
    fresh = sender.envelope(builders.peer_heart(2.0, 0.5, format_js_date(now)))
    assert outcome(restored.handle(PacketReceived(fresh, "mqtt", now + 1001), now + 1001)) == "accepted"


def test_old_packets_leave_and_seen_cap_bounds_the_window(make_store):
    """Packets older than the window go down to the count cap; inside it, seen_cap bounds them."""
    store = make_store(packet_cap=10, seen_cap=25)

    def put(i, t):
        return Persist("packets", f"k{i:03d}", {"receivedTime": t, "i": i})

    store.apply([put(i, T0 + i) for i in range(20)])           # all inside the window
    assert store.count("packets") == 20
    store.apply([put(100 + i, T0 + 1 + i) for i in range(20)])   # 40 inside: seen_cap keeps 25
    assert store.count("packets") == 25
    later = T0 + REPLAY_WINDOW_MS + 1_000
    store.apply([put(200 + i, later + i) for i in range(3)])   # the rest fell out of the window
    kept = sorted(r["i"] for r in store.all("packets"))
    assert len(kept) == 10 and {200, 201, 202} <= set(kept)
