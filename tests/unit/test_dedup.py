import json

import pytest

from rakis_py.protocol.dedup import ReplayGuard, SeenSignatures
from rakis_py.protocol.errors import PacketRejected, RejectCode

SID_A = "a" * 64
SID_B = "b" * 64


def test_seen_after_add_and_keyed_by_sender_and_signature():
    memory = SeenSignatures(cap=10)
    assert not memory.seen(SID_A, "s1")
    assert memory.add(SID_A, "s1") is True
    assert memory.seen(SID_A, "s1")
    # Same signature from another sender is another key.
    assert not memory.seen(SID_B, "s1")
    assert memory.add(SID_A, "s1") is False
    assert len(memory) == 1


def test_holds_the_newest_cap_keys_and_at_most_twice_cap():
    cap = 3
    memory = SeenSignatures(cap=cap)
    for i in range(20):
        memory.add(SID_A, f"s{i}")
        newest = range(max(0, i - cap + 1), i + 1)
        assert all(memory.seen(SID_A, f"s{j}") for j in newest), i
        assert len(memory) <= 2 * cap - 1
    # older keys do go: only the last two generations are kept
    assert not memory.seen(SID_A, "s0") and not memory.seen(SID_A, "s13")
    assert len(memory) == 20 % cap + cap


def test_re_adding_does_not_refresh_age():
    memory = SeenSignatures(cap=2)
    memory.add(SID_A, "old")
    memory.add(SID_A, "new")             # generation full: {old, new} becomes the old one
    memory.add(SID_A, "old")             # duplicate arrival: the key keeps its first age
    assert len(memory) == 2
    memory.add(SID_A, "newer")
    memory.add(SID_A, "newest")          # {newer, newest} full: {old, new} is dropped
    assert not memory.seen(SID_A, "old") and not memory.seen(SID_A, "new")
    assert memory.seen(SID_A, "newer") and memory.seen(SID_A, "newest")


def test_cap_one_keeps_exactly_the_newest_key():
    memory = SeenSignatures(cap=1)
    memory.add(SID_A, "s1")
    memory.add(SID_A, "s2")
    assert memory.seen(SID_A, "s2") and not memory.seen(SID_A, "s1") and len(memory) == 1


def test_same_signature_from_two_senders_are_two_keys_in_either_generation():
    memory = SeenSignatures(cap=2)
    memory.add(SID_A, "s")
    memory.add(SID_A, "t")               # rotates: (A, s) is in the old generation
    assert memory.add(SID_B, "s") is True
    assert memory.seen(SID_A, "s") and memory.seen(SID_B, "s")
    assert (SID_B, "s") in memory and (SID_B, "t") not in memory and "s" not in memory


def test_round_trip_through_json_keeps_order_and_keys():
    memory = SeenSignatures(cap=4)
    for i in range(6):
        memory.add(SID_A if i % 2 else SID_B, f"s{i}")
    restored = SeenSignatures.from_list(4, json.loads(json.dumps(memory.to_list())))
    assert restored.to_list() == memory.to_list()
    assert [sig for _sid, sig in restored.to_list()] == [f"s{i}" for i in range(6)]   # oldest first
    for i in (6, 7):                     # the young generation fills: the oldest keys go first
        restored.add(SID_A, f"s{i}")
    assert not restored.seen(SID_B, "s2") and restored.seen(SID_B, "s4") and restored.seen(SID_A, "s7")


def test_from_list_skips_malformed_entries_and_honours_smaller_cap():
    items = [[SID_A, "s1"], "junk", [SID_A], [1, 2], None, [SID_B, "s2"], [SID_B, "s3"], [SID_B, "s4"],
             [SID_A, "s5"]]
    restored = SeenSignatures.from_list(2, items)
    assert restored.to_list() == [[SID_B, "s3"], [SID_B, "s4"], [SID_A, "s5"]]


@pytest.mark.parametrize("cap", [0, -1, 1.5, True])
def test_cap_must_be_positive_int(cap):
    with pytest.raises(ValueError):
        SeenSignatures(cap)


def test_replay_window_edges_are_inclusive():
    guard = ReplayGuard(past_ms=1000, future_ms=200)
    now = 1_700_000_000_000
    guard.check(now - 1000, now)
    guard.check(now + 200, now)
    guard.check(now, now)
    for bad in (now - 1001, now + 201):
        with pytest.raises(PacketRejected) as info:
            guard.check(bad, now)
        assert info.value.code is RejectCode.REPLAY


def test_default_window_is_ten_minutes_back_two_ahead():
    guard = ReplayGuard()
    now = 10**12
    guard.check(now - 10 * 60_000, now)
    with pytest.raises(PacketRejected):
        guard.check(now - 10 * 60_000 - 1, now)
    with pytest.raises(PacketRejected):
        guard.check(now + 2 * 60_000 + 1, now)


def test_required_cap_and_covers():
    guard = ReplayGuard(past_ms=10_000, future_ms=2_000)
    assert guard.window_ms == 12_000
    # 5 packets/s over 12 s = 60 later keys + the key itself.
    assert guard.required_cap(5) == 61
    assert guard.covers(61, 5) and not guard.covers(60, 5)
    assert guard.required_cap(0.1) == 3  # 1.2 keys round up to 2, plus itself
    assert guard.required_cap(0) == 1


def test_replay_refused_after_memory_forgot_the_key():
    """§15.15: a packet older than the window is refused even after its key was evicted."""
    guard = ReplayGuard(past_ms=5_000, future_ms=1_000)
    rate = 2  # packets per second
    memory = SeenSignatures(cap=guard.required_cap(rate))
    created = 0
    accepted_replays = 0
    now = 0
    target = (SID_A, "target")
    memory.add(*target)
    # Simulate steady traffic at `rate`, replaying the target packet every step.
    for step in range(1, 60):
        now = step * 1000 // rate
        memory.add(SID_B, f"other{step}")
        try:
            guard.check(created, now)
        except PacketRejected:
            continue
        if not memory.seen(*target):
            accepted_replays += 1
    assert accepted_replays == 0
    assert not memory.seen(*target)  # the memory did forget it: the guard did the refusing


def test_undersized_memory_lets_a_replay_through():
    """The invariant is real: with too small a memory a replay inside the window gets through
    (it holds between cap and 2 * cap - 1 keys, so only below about half of required_cap)."""
    guard = ReplayGuard(past_ms=5_000, future_ms=1_000)
    rate = 2
    memory = SeenSignatures(cap=guard.required_cap(rate) // 2 - 1)
    memory.add(SID_A, "target")
    leaked = False
    for step in range(1, 13):
        now = step * 500
        memory.add(SID_B, f"other{step}")
        try:
            guard.check(0, now)
        except PacketRejected:
            continue
        leaked |= not memory.seen(SID_A, "target")
    assert leaked
