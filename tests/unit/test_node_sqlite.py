"""The node's records through the real SQLite adapter: a crash and reopen loses no committed state."""

from __future__ import annotations

import random

from rakis_py.protocol.actions import Persist
from rakis_py.protocol.node import Node
from rakis_py.runtime.sqlite_store import SqliteStorage

from .netharness import Net, NodeSpec


def test_node_state_survives_sqlite_reopen(tmp_path):
    net = Net([NodeSpec() for _ in range(3)], seed=21, jitter=0)
    db = SqliteStorage(tmp_path / "node1.sqlite", packet_cap=5000)
    original_apply = net.apply

    def apply(i, a, at):                       # node 1 writes through SQLite as well
        if i == 1 and isinstance(a, Persist):
            db.apply([a])
        original_apply(i, a, at)
    net.apply = apply
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + 60_000)
    before = net.nodes[1].request_view(rid)
    assert before["result"] is not None
    db.close()

    reopened = SqliteStorage(tmp_path / "node1.sqlite", packet_cap=5000)
    tables = reopened.load_all()
    assert tables["packets"] and tables["quorums"] and tables["consensusResults"]
    node, actions = Node.restore(net.nodes[1].config, net.nodes[1].identity, random.Random(5),
                                 tables, net.now)
    after = node.request_view(rid)
    for key in ("status", "committed", "revealed", "agreedSet", "result", "consensus"):
        assert before[key] == after[key], key
    # Every packet stored is remembered: a replayed copy is a duplicate, not new work.
    stored = tables["packets"][0]
    from rakis_py.protocol.events import PacketReceived
    env = {k: stored[k] for k in ("synthientId", "signature", "packet")}
    out = node.handle(PacketReceived(env, "nostr", net.now), net.now)
    assert not any(isinstance(a, Persist) and a.table == "packets" for a in out)
    reopened.close()
