"""`Storage` on SQLite (stdlib `sqlite3`), for CPython nodes, the simulator and analytics.

One table per name: `key TEXT PRIMARY KEY, record TEXT` (the record's JSON) plus copies of the
few fields that are looked up or sorted by (v1 spec §9.1 indexes), each with an index. WAL journal;
each `apply` is one transaction, so a crash or a bad record leaves the previous state whole.
Only `packets` is pruned (the newest `packet_cap` by `receivedTime`, and beyond them those inside
the replay window up to `seen_cap`: `storage.packets_kept`); analytics tables are not.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Iterable

from .storage import (
    BatchedStorage,
    DEFAULT_PACKET_CAP,
    DEFAULT_SEEN_CAP,
    REPLAY_WINDOW_MS,
    TABLES,
    StorageError,
    check_table,
    encode_batch,
    packets_kept,
)

SCHEMA_VERSION = 1

# Indexed copies of record fields: table -> {column: kind}. "num" columns take only numbers
# (times in ms), "str" columns only strings; anything else is stored as NULL.
INDEXED: dict[str, dict[str, str]] = {
    "packets": {"receivedTime": "num"},
    "peers": {"lastSeen": "num"},
    "inferenceRequests": {"endingAt": "num"},
    "inferenceResults": {"requestId": "str"},
    "inferenceEmbeddings": {"requestId": "str"},
    "quorums": {"status": "str", "endingAt": "num"},
    "externalConsensusResults": {"requestId": "str"},
}


def _column_value(kind: str, value: Any) -> Any:
    if kind == "num":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        return None
    return value if isinstance(value, str) else None


class SqliteStorage(BatchedStorage):
    """SQLite-backed `Storage`. `packet_cap` 0 or None keeps every packet; `window_ms` 0 or None
    prunes by the count cap alone."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        packet_cap: int | None = DEFAULT_PACKET_CAP,
        synchronous: str = "FULL",
        window_ms: int | None = REPLAY_WINDOW_MS,
        seen_cap: int | None = DEFAULT_SEEN_CAP,
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"bad synchronous mode {synchronous!r}")
        self.path = os.fspath(path)
        self.packet_cap = packet_cap
        self.window_ms = window_ms            # 0/None: the count cap alone
        self.seen_cap = seen_cap
        # Autocommit mode: transactions are opened explicitly in `apply`.
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._create_schema()

    # -- Storage protocol --------------------------------------------------------------------

    def get(self, table: str, key: str) -> dict | None:
        row = self._conn.execute(
            f'SELECT record FROM "{check_table(table)}" WHERE key = ?', (key,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, table: str) -> list[dict]:
        rows = self._conn.execute(f'SELECT record FROM "{check_table(table)}" ORDER BY key')
        return [json.loads(r[0]) for r in rows]

    def count(self, table: str) -> int:
        return self._conn.execute(f'SELECT count(*) FROM "{check_table(table)}"').fetchone()[0]

    def load_all(self) -> dict[str, list[dict]]:
        return {t: self.all(t) for t in TABLES}

    def apply(self, persist_actions: Iterable[Any]) -> None:
        """Write a batch in one transaction; every record is validated before anything is written."""
        batch = encode_batch(persist_actions)
        if not batch:
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, key, raw in batch:
                if raw is None:
                    conn.execute(f'DELETE FROM "{table}" WHERE key = ?', (key,))
                else:
                    self._upsert(table, key, raw)
            if any(table == "packets" for table, _, _ in batch):
                self._prune_packets()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    # -- extras ------------------------------------------------------------------------------

    def find(self, table: str, column: str, value: Any) -> list[dict]:
        """Records whose indexed `column` equals `value` (e.g. results by requestId)."""
        if column not in INDEXED.get(check_table(table), {}):
            raise StorageError(f"{table}.{column} is not an indexed column")
        rows = self._conn.execute(
            f'SELECT record FROM "{table}" WHERE "{column}" = ? ORDER BY key', (value,)
        )
        return [json.loads(r[0]) for r in rows]

    def prune_packets(self) -> int:
        """Apply the packet cap now; returns how many packets were deleted."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._prune_packets()
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return deleted

    # -- internals ---------------------------------------------------------------------------

    def _create_schema(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                columns = "".join(f', "{c}"' for c in INDEXED.get(table, {}))
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{table}" '
                    f"(key TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL{columns})"
                )
                for column in INDEXED.get(table, {}):
                    conn.execute(
                        f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}" ("{column}")'
                    )
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _upsert(self, table: str, key: str, raw: str) -> None:
        spec = INDEXED.get(table, {})
        names = ["key", "record", *spec]
        values: list[Any] = [key, raw]
        if spec:
            record = json.loads(raw)
            values += [_column_value(kind, record.get(col)) for col, kind in spec.items()]
        quoted = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" for _ in names)
        self._conn.execute(f'INSERT OR REPLACE INTO "{table}" ({quoted}) VALUES ({marks})', values)

    def _prune_packets(self) -> int:
        cap = self.packet_cap
        if not cap:
            return 0
        total = self.count("packets")
        if total <= cap:
            return 0
        in_window = 0
        if self.window_ms:
            newest = self._conn.execute('SELECT max("receivedTime") FROM "packets"').fetchone()[0]
            if newest is not None:
                in_window = self._conn.execute(
                    'SELECT count(*) FROM "packets" WHERE "receivedTime" >= ?',
                    (newest - self.window_ms,)).fetchone()[0]
        keep = packets_kept(total, in_window, cap, self.seen_cap)
        if keep >= total:
            return 0
        # Newest first: rows with a numeric receivedTime, by time then key, both descending.
        cur = self._conn.execute(
            'DELETE FROM "packets" WHERE key IN (SELECT key FROM "packets" '
            'ORDER BY ("receivedTime" IS NOT NULL) DESC, "receivedTime" DESC, key DESC '
            "LIMIT -1 OFFSET ?)",
            (keep,),
        )
        return cur.rowcount
