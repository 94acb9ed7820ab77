"""The node's read-only queries hand out copies: changing what they return changes nothing inside."""

from __future__ import annotations

import dataclasses

import pytest

from .netharness import Net, NodeSpec


def _done() -> tuple[Net, str]:
    net = Net([NodeSpec() for _ in range(3)], seed=7, jitter=0)
    rid = net.submit(0, quorum=2, max_time_ms=10_000)
    net.run_until(net.now + 150_000)
    return net, rid


def test_queries_are_copies():
    net, rid = _done()
    node = net.nodes[1]
    view = node.request_view(rid)
    assert view["consensus"]["success"] and view["agree"] + view["disagree"] >= 1
    view["consensus"]["success"] = False
    view["result"]["validSingleInference"]["output"] = "changed"
    again = node.request_view(rid)
    assert again["consensus"]["success"] and again["result"]["validSingleInference"]["output"] != "changed"

    commits = node.commits(rid)
    assert len(commits) >= 2 and all(c.revealed and c.in_agreed_set for c in commits)
    with pytest.raises(dataclasses.FrozenInstanceError):
        commits[0].revealed = False                      # type: ignore[misc]

    peers = node.peer_records()
    assert {p["synthientId"] for p in peers} == set(net.ids) - {node.me}
    peers[0]["seenOn"].append("evil")
    assert "evil" not in node.peer_records()[0]["seenOn"]

    status = node.status()
    assert status.synthient_id == node.me and status.requests == 1 and status.peers == 2
    assert {w.kind for w in node.workers()} == {"llm", "embedding"} and node.request_ids() == (rid,)
    assert node.commits("no such request") == () and node.request_view("no such request") is None
