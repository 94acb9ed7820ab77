"""The storage interface the runtimes implement, and an in-memory implementation.

The node never writes storage itself: it returns `Persist(table, key, record | None)` actions and
the runtime applies them with `Storage.apply`, one batch in one transaction. On start the runtime
reads everything back with `load_all()` and hands it to `Node.restore`.

Records are JSON-able dicts (as IndexedDB would store them after structured cloning of plain
objects): every implementation stores the JSON form, so what you read back is exactly what a
JSON round trip gives (tuples become lists, no NaN/Infinity, keys are strings).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Protocol, runtime_checkable

from ..protocol.dedup import DEFAULT_FUTURE_MS, DEFAULT_PAST_MS
from ..protocol.records import DATA_TABLES

# The node's tables (v1 spec §9.1 names; the schema is protocol/records.py), plus `meta` for small
# node state (dedup memory, counters).
META_TABLE = "meta"
TABLES: tuple[str, ...] = DATA_TABLES + (META_TABLE,)

DEFAULT_PACKET_CAP = 5000      # v1 maxPacketDBSize (v1 kept +50 of hysteresis; we keep exactly)
# Node.restore rebuilds the node's replay memory (seen signatures) from the packets table. The
# memory must hold every packet received within the replay guard's past + future window (see
# protocol/dedup.py), so the table also keeps every packet received within that window of its
# newest one, up to NodeConfig.seen_cap rows: a count cap alone (5,000) let a reloaded node accept
# again a packet older than the newest 5,000 but inside the window (any network above ~7 packets/s).
REPLAY_WINDOW_MS = DEFAULT_PAST_MS + DEFAULT_FUTURE_MS
DEFAULT_SEEN_CAP = 100_000     # NodeConfig.seen_cap (tests/unit/test_packet_retention.py checks it)


def packets_kept(total: int, in_window: int, packet_cap: int | None, seen_cap: int | None) -> int:
    """How many packets (newest first) the table keeps: the newest `packet_cap`, and beyond them
    those received within the replay window of the newest (`in_window` of them), at most `seen_cap`
    in all. `packet_cap` 0/None keeps everything. web/js/idb.js applies the same rule."""
    if not packet_cap:
        return total
    window = in_window if not seen_cap else min(in_window, seen_cap)
    return min(total, max(packet_cap, window))


class StorageError(Exception):
    """Base class of the errors storage raises for bad input."""


class UnknownTable(StorageError, KeyError):
    pass


class BadRecord(StorageError, ValueError):
    """The record is not a JSON-able dict (or the key not a str). Nothing was written."""


class PersistLike(Protocol):
    table: str
    key: str
    record: dict | None


@runtime_checkable
class Storage(Protocol):
    def put(self, table: str, key: str, record: dict) -> None: ...
    def delete(self, table: str, key: str) -> None: ...
    def get(self, table: str, key: str) -> dict | None: ...
    def all(self, table: str) -> list[dict]: ...
    def apply(self, persist_actions: Iterable[PersistLike]) -> None: ...
    def load_all(self) -> dict[str, list[dict]]: ...
    def count(self, table: str) -> int: ...
    def close(self) -> None: ...


def check_table(table: Any) -> str:
    if table not in TABLES:
        raise UnknownTable(f"unknown table {table!r}; known: {', '.join(TABLES)}")
    return table


def encode_record(table: str, key: Any, record: Any) -> str | None:
    """The stored JSON of one write (None for a delete). Raises `BadRecord` / `UnknownTable`."""
    check_table(table)
    if not isinstance(key, str):
        raise BadRecord(f"{table}: key must be a str, got {type(key).__name__}")
    if record is None:
        return None
    if not isinstance(record, dict):
        raise BadRecord(f"{table}[{key!r}]: record must be a dict, got {type(record).__name__}")
    try:
        return json.dumps(record, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BadRecord(f"{table}[{key!r}]: record is not JSON-serialisable: {exc}") from exc


def encode_batch(persist_actions: Iterable[Any]) -> list[tuple[str, str, str | None]]:
    """Validate and encode a whole batch up front, so a bad record aborts before any write."""
    out = []
    for action in persist_actions:
        table, key, record = _fields(action)
        out.append((table, key, encode_record(table, key, record)))
    return out


def _fields(action: Any) -> tuple[Any, Any, Any]:
    if isinstance(action, tuple) and len(action) == 3:
        return action
    try:
        return action.table, action.key, action.record
    except AttributeError as exc:
        raise BadRecord(f"not a persist action: {action!r}") from exc


def received_time(record: dict) -> float | None:
    """The packets-table sort column: `receivedTime` when it is a number (ms), else None
    (such rows are pruned first)."""
    value = record.get("receivedTime")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


class BatchedStorage:
    """`put`/`delete` as one-item batches of the store's atomic `apply`."""

    def put(self, table: str, key: str, record: dict) -> None:
        if record is None:
            raise BadRecord(f"{table}[{key!r}]: put needs a record; use delete()")
        self.apply([(table, key, record)])

    def delete(self, table: str, key: str) -> None:
        self.apply([(table, key, None)])

    def apply(self, persist_actions: Iterable[Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class MemoryStorage(BatchedStorage):
    """Dict-backed `Storage` with the same semantics as `SqliteStorage` (JSON round trip,
    atomic batches, packet pruning), for tests and the simulator."""

    def __init__(self, packet_cap: int | None = DEFAULT_PACKET_CAP,
                 window_ms: int | None = REPLAY_WINDOW_MS,
                 seen_cap: int | None = DEFAULT_SEEN_CAP) -> None:
        self.packet_cap = packet_cap
        self.window_ms = window_ms            # 0/None: the count cap alone
        self.seen_cap = seen_cap
        self._tables: dict[str, dict[str, str]] = {t: {} for t in TABLES}
        self._times: dict[str, float | None] = {}    # packets: key -> receivedTime (the sort column)
        self._closed = False

    def get(self, table: str, key: str) -> dict | None:
        self._check_open()
        raw = self._tables[check_table(table)].get(key)
        return json.loads(raw) if raw is not None else None

    def all(self, table: str) -> list[dict]:
        self._check_open()
        rows = self._tables[check_table(table)]
        return [json.loads(rows[k]) for k in sorted(rows)]

    def count(self, table: str) -> int:
        self._check_open()
        return len(self._tables[check_table(table)])

    def apply(self, persist_actions: Iterable[Any]) -> None:
        self._check_open()
        batch = encode_batch(persist_actions)
        for table, key, raw in batch:
            if raw is None:
                self._tables[table].pop(key, None)
                if table == "packets":
                    self._times.pop(key, None)
            else:
                self._tables[table][key] = raw
                if table == "packets":
                    self._times[key] = received_time(json.loads(raw))
        if any(table == "packets" for table, _, _ in batch):
            self._prune_packets()

    def load_all(self) -> dict[str, list[dict]]:
        return {t: self.all(t) for t in TABLES}

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("storage is closed")

    def _prune_packets(self) -> None:
        rows = self._tables["packets"]
        if not self.packet_cap or len(rows) <= self.packet_cap:
            return
        # Same order as the SQLite adapter: newest receivedTime first, ties by key descending,
        # rows without a numeric receivedTime last.
        times = self._times

        def newest_first(key: str) -> tuple:
            t = times[key]
            return (t is not None, t if t is not None else 0, key)

        order = sorted(rows, key=newest_first, reverse=True)
        numeric = [t for t in times.values() if t is not None]
        in_window = 0
        if self.window_ms and numeric:
            cutoff = max(numeric) - self.window_ms
            in_window = sum(1 for t in numeric if t >= cutoff)
        keep = packets_kept(len(rows), in_window, self.packet_cap, self.seen_cap)
        for key in order[keep:]:
            del rows[key]
            del times[key]
