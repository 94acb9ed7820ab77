"""Storage contract tests, run against both MemoryStorage and SqliteStorage."""

import math
import sqlite3

import pytest

from rakis_py.protocol.actions import Persist
from rakis_py.runtime.sqlite_store import SqliteStorage
from rakis_py.runtime.storage import (
    DATA_TABLES,
    TABLES,
    BadRecord,
    MemoryStorage,
    Storage,
    UnknownTable,
)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request, tmp_path):
    opened = []

    def make(packet_cap=5000, window_ms=0):
        # window_ms=0: these tests are about the count cap (tests/unit/test_packet_retention.py
        # covers the replay window, which would keep every packet received within 12 minutes)
        if request.param == "memory":
            store = MemoryStorage(packet_cap=packet_cap, window_ms=window_ms)
        else:
            store = SqliteStorage(tmp_path / "node.db", packet_cap=packet_cap, window_ms=window_ms)
        opened.append(store)
        return store

    yield make
    for store in opened:
        try:
            store.close()
        except Exception:
            pass


def packet(i, received):
    return {"synthientId": f"{i:064x}", "signature": "ab" * 64, "receivedTime": received,
            "packet": {"type": "peerHeart", "windowX": i, "windowY": 0, "createdAt": "x"}}


def test_tables_are_v1_names_plus_meta():
    assert TABLES[-1] == "meta" and "meta" not in DATA_TABLES
    assert set(DATA_TABLES) == {"packets", "peers", "inferenceRequests", "inferenceResults",
                                "inferenceEmbeddings", "quorums", "consensusResults",
                                "externalConsensusResults"}


def test_implements_protocol(make_store):
    assert isinstance(make_store(), Storage)


def test_round_trip_every_table(make_store):
    store = make_store()
    records = {t: {"key": t, "n": 1, "f": 0.5, "s": "é", "nested": {"l": [1, None, True]}}
               for t in TABLES}
    for table, record in records.items():
        store.put(table, f"{table}-k", record)
    for table, record in records.items():
        assert store.get(table, f"{table}-k") == record
        assert store.all(table) == [record]
        assert store.count(table) == 1
    assert store.load_all() == {t: [r] for t, r in records.items()}
    assert store.get("peers", "missing") is None


def test_put_replaces_delete_removes_and_returns_copies(make_store):
    store = make_store()
    store.put("peers", "p", {"v": 1})
    store.put("peers", "p", {"v": 2})
    got = store.get("peers", "p")
    assert got == {"v": 2}
    got["v"] = 99
    assert store.get("peers", "p") == {"v": 2}
    store.delete("peers", "p")
    store.delete("peers", "never-there")
    assert store.count("peers") == 0


def test_apply_batch_with_persist_actions(make_store):
    store = make_store()
    store.apply([
        Persist("quorums", "q1", {"requestId": "q1", "status": "awaiting_reveal", "endingAt": 5}),
        Persist("inferenceResults", "i1", {"requestId": "q1", "inferenceId": "i1"}),
        Persist("inferenceResults", "i2", {"requestId": "q1", "inferenceId": "i2"}),
        Persist("inferenceResults", "i1", None),
    ])
    assert store.get("quorums", "q1")["status"] == "awaiting_reveal"
    assert [r["inferenceId"] for r in store.all("inferenceResults")] == ["i2"]


@pytest.mark.parametrize("bad", [
    {"b": b"bytes"}, {"nan": math.nan}, {"inf": math.inf}, {"set": {1}}, ["not", "dict"], 5,
])
def test_bad_record_aborts_whole_batch(make_store, bad):
    store = make_store()
    store.put("peers", "keep", {"v": 1})
    with pytest.raises(BadRecord) as info:
        store.apply([
            Persist("peers", "keep", {"v": 2}),
            Persist("peers", "new", {"v": 3}),
            Persist("packets", "p", packet(1, 1)),
            Persist("quorums", "broken", bad),
        ])
    assert "quorums" in str(info.value) and "broken" in str(info.value)
    assert store.get("peers", "keep") == {"v": 1}
    assert store.count("peers") == 1 and store.count("packets") == 0


def test_unknown_table_and_bad_key_rejected(make_store):
    store = make_store()
    with pytest.raises(UnknownTable):
        store.put("packets; DROP TABLE peers", "k", {})
    with pytest.raises(UnknownTable):
        store.all("nope")
    with pytest.raises(BadRecord):
        store.put("peers", 5, {})
    with pytest.raises(BadRecord):
        store.put("peers", "k", None)


def test_pruning_keeps_newest_packets_by_received_time(make_store):
    store = make_store(packet_cap=10)
    # arrival order differs from receivedTime order
    times = [(i * 7919) % 25 for i in range(25)]
    for i, t in enumerate(times):
        store.put("packets", f"k{i:02d}", packet(i, 1000 + t))
    kept = sorted(r["receivedTime"] for r in store.all("packets"))
    assert kept == sorted(1000 + t for t in times)[-10:]
    assert store.count("packets") == 10


def test_pruning_batch_and_analytics_not_pruned(make_store):
    store = make_store(packet_cap=3)
    store.apply([Persist("packets", f"k{i}", packet(i, i)) for i in range(8)]
                + [Persist("inferenceResults", f"r{i}", {"requestId": "x"}) for i in range(8)]
                + [Persist("packets", "untimed", {"receivedTime": "yesterday"})])
    assert sorted(r["receivedTime"] for r in store.all("packets")) == [5, 6, 7]
    assert store.count("inferenceResults") == 8


@pytest.mark.parametrize("cap", [0, None])
def test_no_cap_keeps_everything(make_store, cap):
    store = make_store(packet_cap=cap)
    store.apply([Persist("packets", f"k{i}", packet(i, i)) for i in range(30)])
    assert store.count("packets") == 30


def test_memory_and_sqlite_prune_identically(tmp_path):
    memory = MemoryStorage(packet_cap=5, window_ms=0)
    sqlite_store = SqliteStorage(tmp_path / "x.db", 5, window_ms=0)
    batch = [Persist("packets", f"k{i}", packet(i, i % 3)) for i in range(9)]
    batch.append(Persist("packets", "none", {"receivedTime": None}))
    batch.append(Persist("packets", "float", {"receivedTime": 1.5}))
    for store in (memory, sqlite_store):
        store.apply(batch)
    assert memory.all("packets") == sqlite_store.all("packets")
    # ties at receivedTime 1 are broken by key, the same way in both
    assert [r.get("packet", {}).get("windowX") for r in memory.all("packets")] == [None, 2, 5, 7, 8]
    sqlite_store.close()


def test_sqlite_reopen_keeps_every_committed_record(tmp_path):
    path = tmp_path / "node.db"
    store = SqliteStorage(path, packet_cap=100)
    batch = [Persist(t, f"{t}-{i}", {"table": t, "i": i, "requestId": f"r{i % 2}"})
             for t in TABLES for i in range(5)]
    store.apply(batch)
    store.put("meta", "dedup", {"seen": [["a" * 64, "b" * 128]]})
    before = store.load_all()
    store.close()
    reopened = SqliteStorage(path, packet_cap=100)
    assert reopened.load_all() == before
    assert reopened.count("quorums") == 5
    assert [r["i"] for r in reopened.find("inferenceResults", "requestId", "r1")] == [1, 3]
    reopened.close()


def test_sqlite_failed_batch_leaves_file_unchanged_after_reopen(tmp_path):
    path = tmp_path / "node.db"
    store = SqliteStorage(path)
    store.put("peers", "a", {"v": 1})
    with pytest.raises(BadRecord):
        store.apply([Persist("peers", "b", {"v": 2}), Persist("peers", "c", {"v": object()})])
    store.close()
    reopened = SqliteStorage(path)
    assert reopened.all("peers") == [{"v": 1}]
    reopened.close()


def test_sqlite_rolls_back_on_error_during_write(tmp_path, monkeypatch):
    store = SqliteStorage(tmp_path / "node.db")
    store.put("peers", "a", {"v": 1})
    calls = {"n": 0}
    real_upsert = store._upsert

    def failing_upsert(table, key, raw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise sqlite3.OperationalError("disk full (simulated)")
        real_upsert(table, key, raw)

    monkeypatch.setattr(store, "_upsert", failing_upsert)
    with pytest.raises(sqlite3.OperationalError):
        store.apply([Persist("peers", "a", {"v": 2}), Persist("peers", "b", {"v": 3})])
    assert store.all("peers") == [{"v": 1}]
    store.close()


def test_sqlite_schema_has_indexes_and_wal(tmp_path):
    path = tmp_path / "node.db"
    SqliteStorage(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    for expected in ("packets_receivedTime", "quorums_status", "quorums_endingAt",
                     "inferenceRequests_endingAt", "inferenceResults_requestId",
                     "inferenceEmbeddings_requestId"):
        assert expected in indexes
    conn.close()
