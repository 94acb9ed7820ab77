"""NodeHost's views for the network UI on CPython (fast, no browser): the peer table filled from
packets that arrive on two channels, and the commits of a request as another node's commit arrives."""
import json

from rakis_py.browser.node_host import NodeHost
from rakis_py.protocol import builders
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.timefmt import format_js_date

T0 = 1_790_000_000_000


def host():
    return NodeHost.start("11" * 32, "{}", "{}", T0, 7)


def packet_event(envelope, channel, t):
    return json.dumps({"type": "packet", "data": envelope, "channel": channel, "receivedAt": t})


def test_peer_table_lists_peers_newest_first_with_every_channel_they_were_seen_on():
    h = host()
    a, b = Identity.generate(b"\x02" * 32), Identity.generate(b"\x03" * 32)
    env_a = a.envelope(builders.peer_status_update("boot", format_js_date(T0), total_tokens=42))
    h.handle(packet_event(env_a, "nostr", T0), T0)
    h.handle(packet_event(env_a, "mqtt", T0 + 5), T0 + 5)   # second copy: a duplicate, still a sighting
    env_b = b.envelope(builders.peer_status_update("boot", format_js_date(T0 + 1000), total_tokens=0))
    h.handle(packet_event(env_b, "mqtt", T0 + 1000), T0 + 1000)
    peers = json.loads(h.peer_table(T0 + 2000, 10))
    assert [p["synthientId"] for p in peers] == [b.synthient_id, a.synthient_id]
    # seenOn is every channel a peer was ever seen on (v1 3.1), duplicates included.
    assert sorted(peers[1]["seenOn"]) == ["mqtt", "nostr"] and peers[0]["seenOn"] == ["mqtt"]
    assert peers[1]["totalTokens"] == 42
    assert json.loads(h.peer_table(T0 + 2000, 1))[0]["synthientId"] == b.synthient_id


def test_commits_view_shows_a_peers_commit_unrevealed():
    h = host()
    actions = json.loads(h.handle(json.dumps({"type": "submit", "prompt": "hi", "quorum": 2, "timeMs": 30000}), T0))
    rid = next(a for a in actions if a["type"] == "emit" and a["kind"] == "submitted")["data"]["requestId"]
    assert json.loads(h.commits(rid)) == []
    peer = Identity.generate(b"\x04" * 32)
    commit = peer.envelope(builders.inference_commit("ab" * 32, rid, rid + "x", format_js_date(T0 + 100)))
    h.handle(packet_event(commit, "nostr", T0 + 100), T0 + 100)
    commits = json.loads(h.commits(rid))
    assert [(c["synthientId"], c["inferenceId"], c["revealed"]) for c in commits] == \
        [(peer.synthient_id, rid + "x", False)]
    assert json.loads(h.commits("no-such-request")) == []
