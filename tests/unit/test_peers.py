import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol.peers import MAX_WORKERS, PeerTable

OWN = "0" * 64
T0 = 1_700_000_000_000
HOUR = 3600_000


def sid(i: int) -> str:
    return f"{i:064x}"


def status(status: str, **fields) -> dict:
    return {"type": "peerStatusUpdate", "status": status, **fields}


def test_new_peer_is_recorded_and_dirty():
    table = PeerTable(own_id=OWN)
    table.observe(sid(1), "nostr", T0)
    record = table.to_record(sid(1))
    assert table.dirty() == [(sid(1), record)]
    assert record["synthientId"] == sid(1)
    assert record["seenOn"] == ["nostr"]
    assert record["firstSeen"] == record["lastSeen"] == T0
    assert record["totalWorkers"] == 0 and record["totalTokens"] == 0


def test_last_seen_refreshed_by_every_packet():
    """v1 spec §15.17: v1 never refreshed lastSeen of a known peer."""
    table = PeerTable(own_id=OWN)
    table.observe(sid(1), "nostr", T0)
    table.dirty()
    table.observe(sid(1), "nostr", T0 + 5000, "inferenceCommit", {})
    assert table.to_record(sid(1))["lastSeen"] == T0 + 5000
    assert table.to_record(sid(1))["firstSeen"] == T0
    # the refresh waits in the dirty set for a bulk persist
    assert table.dirty() == [(sid(1), table.to_record(sid(1)))]
    assert table.dirty() == []


def test_last_seen_never_goes_backwards():
    table = PeerTable()
    table.observe(sid(1), "nostr", T0 + 100)
    table.observe(sid(1), "nostr", T0)
    assert table.to_record(sid(1))["lastSeen"] == T0 + 100


def test_seen_on_is_the_union_of_channels():
    table = PeerTable()
    table.observe(sid(1), "nostr", T0)
    table.observe(sid(1), "torrent", T0 + 1)
    table.observe(sid(1), "torrent", T0 + 2)
    table.saw_copy(sid(1), "gun")
    table.saw_copy(sid(1), "not a channel!")
    assert table.to_record(sid(1))["seenOn"] == ["gun", "nostr", "torrent"]


def test_own_id_and_malformed_ids_are_ignored():
    table = PeerTable(own_id=OWN)
    table.observe(OWN, "nostr", T0)
    table.observe("not-hex", "nostr", T0)
    table.observe(sid(0xABC).upper(), "nostr", T0)
    assert len(table) == 0 and table.dirty() == []


def test_status_totals_take_max_and_follow_v1_statuses():
    table = PeerTable()
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("boot", totalTokens=100))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate",
                  status("completed_inference", totalTokens=50, tps=3.0, modelName="m"))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("loaded_worker", totalWorkers=3))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("loaded_worker", totalWorkers=2))
    # totalTokens in a status that does not carry it is ignored
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("inferencing", totalTokens=10**9))
    record = table.to_record(sid(1))
    assert record["totalTokens"] == 100
    assert record["totalWorkers"] == 3
    assert record["lastStatus"] == "inferencing"


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -5, 0, True, "12", None, [3], 10**13, MAX_WORKERS + 1]
)
def test_hostile_totals_are_ignored(value):
    table = PeerTable()
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("boot", totalTokens=7))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("loaded_worker", totalWorkers=2))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("boot", totalTokens=value))
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("loaded_worker", totalWorkers=value))
    record = table.to_record(sid(1))
    if value == MAX_WORKERS + 1:  # a plausible token count, an absurd worker count
        assert record["totalTokens"] == value
    else:
        assert record["totalTokens"] == 7
    assert record["totalWorkers"] == 2
    json.dumps(record, allow_nan=False)


def test_chain_identities_added_once_and_check_is_applied():
    refused = {"chain": "eth", "address": "0xbad"}
    table = PeerTable(identity_check=lambda who, ident: ident["address"] != "0xbad")
    ident = {"chain": "eth", "address": "0xabc", "signature": "0x1"}
    packet = {"identities": [ident, ident, refused, "junk"]}
    table.observe(sid(1), "nkn", T0, "peerConnectedChain", packet)
    table.observe(sid(1), "nkn", T0, "peerConnectedChain", packet)
    assert table.to_record(sid(1))["chainIds"] == [ident]


def test_select_for_gossip_picks_most_recent_in_window():
    """§15.17: v1 picked the oldest peers of the 12 h window."""
    table = PeerTable()
    now = T0 + 24 * HOUR
    for i in range(1, 11):
        table.observe(sid(i), "nostr", now - i * HOUR)  # sid(1) newest
    table.observe(sid(99), "nostr", now - 13 * HOUR)   # outside the 12 h window
    picked = table.select_for_gossip(now, window_ms=12 * HOUR, limit=4)
    assert [p["synthientId"] for p in picked] == [sid(1), sid(2), sid(3), sid(4)]
    everyone = table.select_for_gossip(now)
    assert sid(99) not in {p["synthientId"] for p in everyone}
    assert len(everyone) == 10


def test_merge_known_peers_never_moves_last_seen_into_future():
    table = PeerTable(own_id=OWN)
    now = T0
    table.observe(sid(1), "nostr", now - 1000)
    table.dirty()
    table.merge_known_peers(
        [
            {"synthientId": sid(1), "lastSeen": now + HOUR, "seenOn": ["gun"]},
            {"synthientId": sid(2), "lastSeen": now + 10 * HOUR, "seenOn": ["nkn"],
             "totalWorkers": 2, "totalTokens": 40},
        ],
        now,
    )
    assert table.to_record(sid(1))["lastSeen"] == now
    assert table.to_record(sid(2))["lastSeen"] == now
    assert {s for s, _ in table.dirty()} == {sid(1), sid(2)}
    assert table.to_record(sid(1))["seenOn"] == ["gun", "nostr"]
    assert table.to_record(sid(2))["totalWorkers"] == 2


def test_merge_takes_max_last_seen_and_ignores_self_and_junk():
    table = PeerTable(own_id=OWN)
    table.observe(sid(1), "nostr", T0)
    table.dirty()
    table.merge_known_peers(
        [
            {"synthientId": sid(1), "lastSeen": T0 - HOUR},           # older: ignored
            {"synthientId": OWN, "lastSeen": T0},                       # ourselves
            {"synthientId": "zz", "lastSeen": T0},                      # bad id
            {"synthientId": sid(3), "lastSeen": "garbage"},            # no usable time
            {"synthientId": sid(4), "lastSeen": T0 - 5, "totalWorkers": math.nan,
             "totalTokens": -1, "seenOn": ["nostr", 5, "x" * 100]},
            "not a dict",
        ],
        T0 + 10,
    )
    assert table.to_record(sid(1))["lastSeen"] == T0
    assert OWN not in table and sid(3) not in table
    four = table.to_record(sid(4))
    assert four["totalWorkers"] == 0 and four["totalTokens"] == 0
    assert four["seenOn"] == ["nostr"] and four["lastSeen"] == T0 - 5
    assert four["direct"] is False
    assert four["firstSeen"] == T0 - 5  # earliest evidence of life, not our clock
    assert [s for s, _ in table.dirty()] == [sid(4)]
    table.merge_known_peers([{"synthientId": sid(1), "lastSeen": T0 + 5}], T0 + 10)
    assert table.to_record(sid(1))["lastSeen"] == T0 + 5


def test_merge_accepts_v1_date_strings():
    timefmt = pytest.importorskip("rakis_py.protocol.timefmt")
    table = PeerTable()
    stamp = timefmt.format_js_date(T0 - 1234, offset_minutes=480)
    table.merge_known_peers([{"synthientId": sid(1), "lastSeen": stamp}], T0)
    assert table.to_record(sid(1))["lastSeen"] == T0 - 1234


def test_should_gossip_probability():
    table = PeerTable()
    rng = random.Random(7)
    assert all(table.should_gossip(rng) for _ in range(20))  # empty table: always
    for i in range(1, 401):
        table.observe(sid(i), "nostr", T0)
    rng = random.Random(7)
    sent = sum(table.should_gossip(rng, expected=40) for _ in range(4000))
    assert 300 < sent < 500  # p = 0.1
    assert table.should_gossip(random.Random(1), expected=40, n=10) is True
    # exactly one draw per call, whatever the table size
    a, b = random.Random(3), random.Random(3)
    table.should_gossip(a)
    PeerTable().should_gossip(b)
    assert a.random() == b.random()


def test_active_and_stats():
    table = PeerTable()
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("boot", totalTokens=10))
    table.observe(sid(2), "gun", T0 - 2 * HOUR, "peerStatusUpdate",
                  status("loaded_worker", totalWorkers=4))
    assert [p["synthientId"] for p in table.active(T0, HOUR)] == [sid(1)]
    assert len(table.active(T0, 3 * HOUR)) == 2
    stats = table.stats(T0, since_ms=T0 - 3 * HOUR)
    assert stats["totalPeers"] == 2 and stats["totalTokens"] == 10 and stats["totalWorkers"] == 4
    assert stats["channels"] == ["gun", "nostr"]
    assert table.stats(T0, since_ms=T0 - HOUR)["totalPeers"] == 1


def test_records_round_trip_and_load_drops_junk():
    table = PeerTable(own_id=OWN)
    table.observe(sid(1), "nostr", T0, "peerStatusUpdate", status("boot", totalTokens=10))
    table.observe(sid(1), "nkn", T0 + 5, "peerConnectedChain",
                  {"identities": [{"chain": "eth", "address": "0x1"}]})
    table.merge_known_peers([{"synthientId": sid(2), "lastSeen": T0 - 1}], T0)
    stored = json.loads(json.dumps([r for _, r in table.dirty()]))
    stored += [{"synthientId": "bad"}, {"synthientId": sid(3), "lastSeen": math.nan},
               {"synthientId": OWN, "lastSeen": T0}, 42]
    restored = PeerTable(own_id=OWN)
    restored.load_records(stored)
    assert len(restored) == 2
    assert restored.to_record(sid(1)) == table.to_record(sid(1))
    assert restored.to_record(sid(2)) == table.to_record(sid(2))
    assert restored.dirty() == []


def test_table_is_bounded_and_evicts_gossip_only_first():
    table = PeerTable(max_peers=3)
    table.observe(sid(1), "nostr", T0 - 100)       # direct, oldest
    table.observe(sid(2), "nostr", T0)
    table.merge_known_peers([{"synthientId": sid(3), "lastSeen": T0}], T0)
    table.dirty()
    table.merge_known_peers([{"synthientId": sid(4), "lastSeen": T0}], T0)
    assert len(table) == 3
    assert sid(3) not in table and sid(1) in table
    assert (sid(3), None) in table.dirty()


def test_returned_records_are_copies():
    table = PeerTable()
    table.observe(sid(1), "nostr", T0)
    record = table.to_record(sid(1))
    record["seenOn"].append("evil")
    record["totalTokens"] = 99
    assert table.to_record(sid(1))["seenOn"] == ["nostr"]
    assert table.to_record(sid(1))["totalTokens"] == 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)
_entry = st.fixed_dictionaries(
    {"synthientId": st.sampled_from([sid(1), sid(2), OWN, "junk"])},
    optional={"lastSeen": st.integers(-(2**60), 2**60) | _json, "seenOn": _json,
              "totalTokens": _json | st.integers(), "totalWorkers": _json | st.integers(),
              "identities": _json},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_entry | _json, max_size=6), st.integers(0, 2**45))
def test_merge_hostile_gossip_keeps_records_sane(entries, now):
    table = PeerTable(own_id=OWN)
    table.merge_known_peers(entries, now)
    assert OWN not in table
    for peer in table.ids():
        record = table.to_record(peer)
        json.dumps(record, allow_nan=False)
        assert record["firstSeen"] <= record["lastSeen"] <= now
        assert 0 <= record["totalWorkers"] <= MAX_WORKERS
        assert all(isinstance(c, str) for c in record["seenOn"])
