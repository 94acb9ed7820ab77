"""The peer table: who we heard from, on which channels, when, and what they report (v1 spec §11).

Fixes over v1 (v1 spec §15.17): `lastSeen` is refreshed by every packet a peer sends (v1 only set it on
creation or from gossip), gossip picks the *most recent* peers (v1 picked the oldest 200 of the
12 h window), gossip never moves `lastSeen` past our own clock, gossip-only peers get 0 rather
than NaN workers, and hostile numbers (NaN, negative, absurd) are ignored.

Every change marks the peer dirty; the node persists the dirty records once per event with
`dirty()` (or drops them with `discard_dirty()` when it persists nothing). Channels are merged by
one rule (`_add_channels`): valid names only, the set sorted, at most MAX_CHANNELS.

Records are JSON-able dicts (camelCase, times in int ms) and go to the `peers` table keyed by
synthientId: synthientId, seenOn (sorted channels), lastSeen, firstSeen, chainIds (claimed
identities), totalTokens, totalWorkers (v1 maxima), llmWorkers / embeddingWorkers (latest, None
if never reported), lastStatus, direct (heard from the peer itself, not only through gossip).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from .timefmt import parse_js_date

__all__ = ["PeerTable"]

DEFAULT_GOSSIP_WINDOW_MS = 12 * 3600_000
DEFAULT_GOSSIP_LIMIT = 200
DEFAULT_GOSSIP_EXPECTED = 40          # v1 peerCommunicationCount
MAX_TOKENS = 10**12                   # anything above is a lie, not a count
MAX_WORKERS = 1024
MAX_CHANNELS = 16
MAX_CHAIN_IDS = 16
MAX_STATUS_LEN = 64
DEFAULT_MAX_PEERS = 10_000            # gossip can name arbitrary ids: bound the table

_SYNTHIENT_ID = re.compile(r"^[0-9a-f]{64}$")
_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")

# Which peerStatusUpdate statuses carry which totals (v1 spec §11).
_TOKEN_STATUSES = frozenset({"boot", "completed_inference"})
_WORKER_STATUSES = frozenset({"loaded_worker"})


def _count(value: Any, maximum: int) -> int | None:
    """A sane non-negative count from untrusted input, or None (NaN, inf, bool, <0, > maximum)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value < 0 or value > maximum:
        return None
    return int(value)


def _positive_count(value: Any, maximum: int) -> int | None:
    # v1 ignored values <= 0 for the totals (a max with 0 changes nothing anyway).
    n = _count(value, maximum)
    return n if n else None


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and _SYNTHIENT_ID.match(value) is not None


def _valid_channel(value: Any) -> bool:
    return isinstance(value, str) and _CHANNEL.match(value) is not None


def _chain_identity(value: Any) -> dict | None:
    """Keep only the JSON-able string/number fields of a claimed chain identity."""
    if not isinstance(value, Mapping):
        return None
    chain, address = value.get("chain"), value.get("address")
    if not isinstance(chain, str) or not isinstance(address, str):
        return None
    if len(chain) > 64 or len(address) > 128:
        return None
    out: dict = {}
    for k, v in value.items():
        if isinstance(k, str) and len(k) <= 64:
            if isinstance(v, str) and len(v) <= 1024:
                out[k] = v
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[k] = v
    return out


def _new_record(synthient_id: str, now: int) -> dict:
    return {
        "synthientId": synthient_id,
        "seenOn": [],
        "lastSeen": now,
        "firstSeen": now,
        "chainIds": [],
        "totalTokens": 0,
        "totalWorkers": 0,
        "llmWorkers": None,
        "embeddingWorkers": None,
        "lastStatus": None,
        "direct": False,      # True once a packet came from the peer itself, not only gossip
    }


def _copy(record: dict) -> dict:
    out = dict(record)
    out["seenOn"] = list(record["seenOn"])
    out["chainIds"] = [dict(c) for c in record["chainIds"]]
    return out


class PeerTable:
    """Per-peer records keyed by synthientId. Pure: time comes in as `now`, randomness as `rng`.

    `identity_check(synthient_id, identity) -> bool` decides whether a claimed chain identity
    is kept; the default keeps it as a *claim* (v1's check was tautological, v1 spec §15.13, and EVM
    signature recovery is not available in the sans-IO core).
    """

    def __init__(
        self,
        own_id: str | None = None,
        max_peers: int = DEFAULT_MAX_PEERS,
        identity_check: Callable[[str, dict], bool] | None = None,
    ) -> None:
        self.own_id = own_id
        self.max_peers = max_peers
        self.identity_check = identity_check
        self._peers: dict[str, dict] = {}
        self._dirty: dict[str, None] = {}      # ordered set of ids to persist (or delete)

    # -- queries -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, synthient_id: object) -> bool:
        return synthient_id in self._peers

    def ids(self) -> list[str]:
        return sorted(self._peers)

    def to_record(self, synthient_id: str) -> dict | None:
        record = self._peers.get(synthient_id)
        return _copy(record) if record is not None else None

    def active(self, now: int, within_ms: int) -> list[dict]:
        """Peers seen in the last `within_ms`, most recent first (copies)."""
        cutoff = now - within_ms
        return self._newest_first(r for r in self._peers.values() if r["lastSeen"] >= cutoff)

    def all_records(self) -> list[dict]:
        """Every peer in the table, most recent first (copies)."""
        return self._newest_first(self._peers.values())

    @staticmethod
    def _newest_first(records: Iterable[dict]) -> list[dict]:
        ordered = sorted(records, key=lambda r: (-r["lastSeen"], r["synthientId"]))
        return [_copy(r) for r in ordered]

    def stats(self, now: int, since_ms: int) -> dict:
        """Network totals over peers with `since_ms < lastSeen` (`since_ms` is a timestamp, as v1's
        `getStats(since)`). Our own node is never in the table: the caller adds its own figures."""
        peers = [r for r in self._peers.values() if since_ms < r["lastSeen"] <= now]
        return {
            "totalPeers": len(peers),
            "totalTokens": sum(r["totalTokens"] for r in peers),
            "totalWorkers": sum(r["totalWorkers"] for r in peers),
            "channels": sorted({c for r in peers for c in r["seenOn"]}),
        }

    def select_for_gossip(
        self, now: int, window_ms: int = DEFAULT_GOSSIP_WINDOW_MS, limit: int = DEFAULT_GOSSIP_LIMIT
    ) -> list[dict]:
        """The `limit` most recently seen peers within `window_ms` (newest first, ties by id)."""
        return self.active(now, window_ms)[: max(0, limit)]

    def should_gossip(
        self, rng: random.Random, expected: int = DEFAULT_GOSSIP_EXPECTED, n: int | None = None
    ) -> bool:
        """Send a knownPeers packet with probability `min(1, expected / n)`, so about `expected`
        of `n` peers answer a trigger. `n` defaults to the table size. `n == 0` gives True on
        purpose: a node that knows nobody should still share its (empty or own) view, as v1 did
        (there by accident, 40/0 = Infinity). Always draws exactly one number from `rng`, so the
        random stream does not depend on the table size."""
        count = len(self._peers) if n is None else n
        draw = rng.random()
        if count <= 0:
            return True
        return draw < min(1.0, expected / count)

    # -- updates -----------------------------------------------------------------------------

    def saw_copy(self, synthient_id: str, channel: str | None) -> None:
        """A later copy of a packet already accepted from a known peer arrived on `channel`: the
        peer is also reachable there (seenOn is every channel it was ever seen on, as v1 spec §3.1;
        the first copy's channel is the packet's deliveredThrough)."""
        record = self._peers.get(synthient_id)
        if record is not None and self._add_channels(record, (channel,)):
            self._dirty[synthient_id] = None

    def observe(
        self,
        synthient_id: str,
        channel: str | None,
        now: int,
        packet_type: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Account for one verified packet from `synthient_id` received on `channel` at `now`.

        Handles peerStatusUpdate totals and peerConnectedChain identities from `fields` (the
        raw packet); a knownPeers packet's list goes to `merge_known_peers`."""
        if synthient_id == self.own_id or not _valid_id(synthient_id):
            return
        record = self._peers.get(synthient_id)
        changed = record is None
        if record is None:
            record = self._insert(synthient_id, now)
        if now > record["lastSeen"]:
            record["lastSeen"] = now
            self._dirty[synthient_id] = None
        if not record["direct"]:
            record["direct"] = True
            changed = True
        if channel not in record["seenOn"]:
            changed |= self._add_channels(record, (channel,))
        fields = fields if isinstance(fields, Mapping) else {}
        if packet_type == "peerStatusUpdate":
            changed |= self._apply_status(record, fields)
        elif packet_type == "peerConnectedChain":
            changed |= self._add_identities(record, fields.get("identities"))
        if changed:
            self._dirty[synthient_id] = None

    def merge_known_peers(self, entries: Iterable[Any], now: int) -> None:
        """Merge a gossiped `knownPeers.peerList`.

        Per entry: union of seenOn, lastSeen = max(ours, theirs) but never beyond `now`, totals
        by max (hostile values ignored), identities added. Entries about ourselves or with a
        malformed id are skipped. `lastSeen` may be int ms or a v1 date string."""
        for entry in entries or ():
            if not isinstance(entry, Mapping):
                continue
            sid = entry.get("synthientId")
            if sid == self.own_id or not _valid_id(sid):
                continue
            gossiped = _gossip_time(entry.get("lastSeen"))
            record = self._peers.get(sid)
            changed = False
            if record is None:
                if gossiped is None:
                    continue          # nothing says this peer was ever alive
                record = self._insert(sid, now)
                record["lastSeen"] = record["firstSeen"] = min(gossiped, now)
                changed = True
            elif gossiped is not None:
                seen = min(gossiped, now)
                if seen > record["lastSeen"]:
                    record["lastSeen"] = seen
                    self._dirty[sid] = None
            channels = entry.get("seenOn")
            if isinstance(channels, list):
                changed |= self._add_channels(record, channels)
            tokens = _positive_count(entry.get("totalTokens"), MAX_TOKENS)
            if tokens is not None and tokens > record["totalTokens"]:
                record["totalTokens"] = tokens
                changed = True
            workers = _positive_count(entry.get("totalWorkers"), MAX_WORKERS)
            if workers is not None and workers > record["totalWorkers"]:
                record["totalWorkers"] = workers
                changed = True
            changed |= self._add_identities(record, entry.get("identities"))
            if changed:
                self._dirty[sid] = None

    def dirty(self) -> list[tuple[str, dict | None]]:
        """Drain the ids changed since the last call: `(synthientId, record)` to upsert, or
        `(synthientId, None)` for a peer evicted from the table (map to Persist actions)."""
        out = [(sid, self.to_record(sid)) for sid in self._dirty]
        self._dirty.clear()
        return out

    def discard_dirty(self) -> None:
        """Forget the changed ids without building records (a node that persists nothing)."""
        self._dirty.clear()

    def load_records(self, records: Iterable[Any]) -> None:
        """Restore from storage (not trusted: malformed records and fields are dropped).
        Does not mark anything dirty."""
        for raw in records or ():
            if not isinstance(raw, Mapping):
                continue
            sid = raw.get("synthientId")
            if sid == self.own_id or not _valid_id(sid):
                continue
            last_seen = _count(raw.get("lastSeen"), 2**53)
            if last_seen is None:
                continue
            record = _new_record(sid, last_seen)
            first_seen = _count(raw.get("firstSeen"), 2**53)
            record["firstSeen"] = min(first_seen, last_seen) if first_seen is not None else last_seen
            seen_on = raw.get("seenOn")
            if isinstance(seen_on, list):
                record["seenOn"] = sorted({c for c in seen_on if _valid_channel(c)})[:MAX_CHANNELS]
            record["totalTokens"] = _count(raw.get("totalTokens"), MAX_TOKENS) or 0
            record["totalWorkers"] = _count(raw.get("totalWorkers"), MAX_WORKERS) or 0
            record["llmWorkers"] = _count(raw.get("llmWorkers"), MAX_WORKERS)
            record["embeddingWorkers"] = _count(raw.get("embeddingWorkers"), MAX_WORKERS)
            status = raw.get("lastStatus")
            record["lastStatus"] = status[:MAX_STATUS_LEN] if isinstance(status, str) else None
            record["direct"] = raw.get("direct") is True
            self._peers[sid] = record
            self._add_identities(record, raw.get("chainIds"), check=False)
        self._evict_beyond_cap()
        self._dirty.clear()

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _add_channels(record: dict, channels: Iterable[Any]) -> bool:
        """Add the valid, new channel names (as many as fit under MAX_CHANNELS, in the given
        order) to the record's sorted seenOn; True when it grew."""
        seen = record["seenOn"]
        fresh = [c for c in channels if c not in seen and _valid_channel(c)]   # known: the usual case
        room = MAX_CHANNELS - len(seen)
        if not fresh or room <= 0:
            return False
        record["seenOn"] = sorted(set(seen) | set(fresh[:room]))
        return True

    def _insert(self, synthient_id: str, now: int) -> dict:
        record = _new_record(synthient_id, now)
        self._peers[synthient_id] = record
        self._dirty[synthient_id] = None
        self._evict_beyond_cap(keep=synthient_id)
        return record

    def _evict_beyond_cap(self, keep: str | None = None) -> None:
        excess = len(self._peers) - self.max_peers
        if excess <= 0:
            return
        # Gossip-only peers go before peers we heard ourselves (gossip can name any id), then the
        # least recently seen; the peer being inserted stays.
        victims = sorted(
            (r for r in self._peers.values() if r["synthientId"] != keep),
            key=lambda r: (r["direct"], r["lastSeen"], r["synthientId"]),
        )[:excess]
        for r in victims:
            del self._peers[r["synthientId"]]
            self._dirty[r["synthientId"]] = None

    def _apply_status(self, record: dict, fields: Mapping[str, Any]) -> bool:
        changed = False
        status = fields.get("status")
        if isinstance(status, str):
            status = status[:MAX_STATUS_LEN]
            if status != record["lastStatus"]:
                record["lastStatus"] = status
                self._dirty[record["synthientId"]] = None
        if status in _TOKEN_STATUSES:
            tokens = _positive_count(fields.get("totalTokens"), MAX_TOKENS)
            if tokens is not None and tokens > record["totalTokens"]:
                record["totalTokens"] = tokens
                changed = True
        if status in _WORKER_STATUSES:
            workers = _positive_count(fields.get("totalWorkers"), MAX_WORKERS)
            if workers is not None and workers > record["totalWorkers"]:
                record["totalWorkers"] = workers
                changed = True
        # Optional v2 fields: the current counts (may go down, so latest wins, not max).
        for key in ("llmWorkers", "embeddingWorkers"):
            if key in fields:
                n = _count(fields.get(key), MAX_WORKERS)
                if n is not None and n != record[key]:
                    record[key] = n
                    changed = True
        return changed

    def _add_identities(self, record: dict, identities: Any, check: bool = True) -> bool:
        if not isinstance(identities, list):
            return False
        known = {(c["chain"], c["address"]) for c in record["chainIds"]}
        changed = False
        for raw in identities:
            if len(record["chainIds"]) >= MAX_CHAIN_IDS:
                break
            identity = _chain_identity(raw)
            if identity is None or (identity["chain"], identity["address"]) in known:
                continue
            if check and self.identity_check is not None:
                if not self.identity_check(record["synthientId"], identity):
                    continue
            record["chainIds"].append(identity)
            known.add((identity["chain"], identity["address"]))
            changed = True
        return changed


def _gossip_time(value: Any) -> int | None:
    """A gossiped lastSeen as int ms: v2 may send ms, v1 sends a date string with offset."""
    if isinstance(value, str):
        try:
            return parse_js_date(value)
        except (ValueError, TypeError, OverflowError):
            return None
    return _count(value, 2**53)
