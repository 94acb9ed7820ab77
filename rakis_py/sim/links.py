"""LinkModel: a MODEL of how a broadcast reaches peers (latency, loss, partitions, relay outages).

This is not a network: it decides, for every copy of every sent envelope, when it arrives or why
it does not. A node's `Send` is fanned out to every online peer (or the addressed ones) on every
channel, like v1 sending each envelope on all its transports (v1 spec §10). Per copy:

* latency: ``median(region_from, region_to) * channel.latency_factor * lognormal(0, sigma)
  + channel.extra_ms``, plus with probability ``stall_share`` a long stall (relay backlog,
  tab in the background) drawn from an exponential with mean ``stall_mean_ms``. The median is
  ``intra_median_ms`` inside a region and ``inter_median_ms`` between two regions, unless
  ``region_median_ms`` names the pair: ``(("eu", "na", 90), ("eu", "asia", 220), ...)`` sets a
  per-pair inter-region delay matrix (symmetric; pairs not named keep ``inter_median_ms``);
* ``no_route``: the pair has no working connection on that channel (a fixed property of the
  pair and channel, drawn once: WebRTC through NAT fails for some pairs);
* ``relay_outage``: the channel is down for everyone during an outage window;
* ``partition``: sender and receiver are on different sides of an open partition;
* ``loss``: independent loss per copy;
* ``blackouts``: declared windows ``(start_s, end_s)`` (from the run start) in which every channel
  is down (booked as ``relay_outage``): a forced total failure, for tests and what-ifs.

Every copy ends in exactly one outcome (conservation, checked by tests):
``delivered`` (first copy handed to the node), ``duplicate`` (a later copy of the same envelope
on another channel, suppressed before the node as its dedup would drop it anyway, counted with its
bytes), ``lost:loss``, ``dropped:<reason>`` (no_route, relay_outage, partition, offline = receiver
gone when it arrives or, for an addressed send, already gone when it is sent, in_flight = still
travelling when the run ends).

Every sent packet (one ``Send``) ends in exactly one *fate* as well (``PacketLedger.fates``):
``delivered`` (at least one node got a copy); ``dropped:no_receivers`` (a broadcast while no other
node is online: no copy exists), ``dropped:unknown_receiver`` (addressed only to ids no simulated
node has, or to the sender itself: no copy exists); otherwise none of its copies reached a node
and it is booked under the latest-stage reason among its copies, in this order: ``dropped:in_flight``,
``dropped:offline``, ``lost:loss``, ``dropped:partition``, ``dropped:relay_outage``, ``dropped:no_route``.
``sum(fates) == packets`` (the summary's ``packets``) once the run has ended (``pending`` is 0).
All randomness comes from one seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections import Counter

import numpy as np

# Outcome codes of one copy decided at send time.
FIRST, DUPLICATE, LOST, PARTITION, OUTAGE, NO_ROUTE = range(6)
OUTCOME_NAMES = {
    FIRST: "delivered",
    DUPLICATE: "duplicate",
    LOST: "lost:loss",
    PARTITION: "dropped:partition",
    OUTAGE: "dropped:relay_outage",
    NO_ROUTE: "dropped:no_route",
}
OFFLINE = "dropped:offline"
IN_FLIGHT = "dropped:in_flight"
NO_RECEIVERS = "dropped:no_receivers"
UNKNOWN_RECEIVER = "dropped:unknown_receiver"
# Fate of a packet none of whose copies reached a node: its latest-stage copy reason.
FATE_ORDER = (IN_FLIGHT, OFFLINE, OUTCOME_NAMES[LOST], OUTCOME_NAMES[PARTITION], OUTCOME_NAMES[OUTAGE],
              OUTCOME_NAMES[NO_ROUTE])


@dataclass(frozen=True)
class ChannelParams:
    """One redundant transport (v1 had nostr, torrent, gun, nkn; we ship nostr, mqtt, torrent)."""

    name: str
    loss: float = 0.01             # independent loss per copy
    latency_factor: float = 1.0    # multiplies the region latency
    extra_ms: int = 0              # fixed relay/framing overhead
    no_route_share: float = 0.0    # share of node pairs with no connection on this channel
    outage_per_hour: float = 0.0   # relay outages (whole channel down), Poisson rate
    outage_mean_s: float = 60.0    # mean outage length (exponential)


@dataclass(frozen=True)
class PartitionParams:
    """Partitions that open and heal: a random share of online nodes is cut from the rest."""

    per_hour: float = 0.0          # Poisson rate of partitions opening
    mean_s: float = 30.0           # mean duration (exponential)
    share: float = 0.2             # share of all nodes on the cut-off side


@dataclass(frozen=True)
class LinkParams:
    regions: tuple[tuple[str, float], ...] = (("eu", 0.45), ("na", 0.35), ("asia", 0.20))
    intra_median_ms: float = 40.0
    inter_median_ms: float = 160.0
    # Per-pair inter-region medians overriding inter_median_ms: ((region_a, region_b, ms), ...).
    region_median_ms: tuple[tuple[str, str, float], ...] = ()
    sigma: float = 0.5                 # lognormal spread of latency
    stall_share: float = 0.0           # share of copies that stall (long tail)
    stall_mean_ms: float = 5_000.0
    channels: tuple[ChannelParams, ...] = (
        ChannelParams("nostr", loss=0.01, latency_factor=1.0, extra_ms=20),
        ChannelParams("mqtt", loss=0.01, latency_factor=1.1, extra_ms=30),
        ChannelParams("torrent", loss=0.02, latency_factor=1.3, extra_ms=60),
    )
    partitions: PartitionParams = field(default_factory=PartitionParams)
    blackouts: tuple[tuple[float, float], ...] = ()    # (start_s, end_s): every channel down


@dataclass
class Fanout:
    """What happened to the copies of one send: one row per recipient, one column per channel."""

    recipients: np.ndarray          # node indices
    latency_ms: np.ndarray          # (n, channels) int64
    outcome: np.ndarray             # (n, channels) int8 codes above
    first_channel: np.ndarray       # (n,) channel index of the delivered copy, -1 if none


def undelivered_fate(reasons: set[str]) -> str:
    """The fate of a packet no node got, from the outcomes of its copies (FATE_ORDER)."""
    for name in FATE_ORDER:
        if name in reasons:
            return name
    raise ValueError(f"no undelivered reason among {sorted(reasons)}")


class PacketLedger:
    """The conservation book: every copy by outcome and channel (bytes too), and every sent
    packet by fate (module docstring)."""

    def __init__(self, channel_names: tuple[str, ...]) -> None:
        self.channels = channel_names
        self.copies = 0
        self.copy_bytes = 0
        self.outcomes: Counter[str] = Counter()
        self.outcome_bytes: Counter[str] = Counter()
        self.by_channel: Counter[tuple[str, str]] = Counter()
        self.packets = 0                         # Sends (each counted once, whatever its fan-out)
        self.fates: Counter[str] = Counter()
        self.pending = 0                         # packets with copies still travelling

    def add(self, outcome: str, n: int, size: int, channel: str | None = None) -> None:
        if n:
            self.outcomes[outcome] += n
            self.outcome_bytes[outcome] += n * size
            if channel is not None:
                self.by_channel[(channel, outcome)] += n

    def summary(self) -> dict:
        return {
            "packets": self.packets,
            "packet_fates": dict(sorted(self.fates.items())),
            "pending": self.pending,
            "copies": self.copies,
            "copy_bytes": self.copy_bytes,
            "outcomes": dict(sorted(self.outcomes.items())),
            "by_channel": {f"{c}/{o}": n for (c, o), n in sorted(self.by_channel.items())},
        }


def region_medians(params: LinkParams) -> np.ndarray:
    """The (regions x regions) matrix of median one-way delays (ms)."""
    names = [name for name, _ in params.regions]
    med = np.full((len(names), len(names)), params.inter_median_ms, dtype=np.float64)
    np.fill_diagonal(med, params.intra_median_ms)
    for a, b, ms in params.region_median_ms:
        if a not in names or b not in names:
            raise ValueError(f"region_median_ms names an unknown region: {a!r}/{b!r} (regions: {names})")
        if a == b:
            raise ValueError(f"region_median_ms is for pairs of regions; {a!r} inside itself is intra_median_ms")
        med[names.index(a), names.index(b)] = med[names.index(b), names.index(a)] = ms
    return med


class LinkModel:
    """Decides the fate of every copy. ``region_of`` maps node index -> region index."""

    def __init__(self, params: LinkParams, region_of: np.ndarray, seed: int,
                 start_ms: int, duration_ms: int) -> None:
        self.p = params
        self.rng = np.random.default_rng(seed)
        self.region_of = region_of.astype(np.int64)
        nreg = len(params.regions)
        self.median = region_medians(params)
        ch = params.channels
        self.nch = len(ch)
        self.channel_names = tuple(c.name for c in ch)
        self.loss = np.array([c.loss for c in ch])
        self.factor = np.array([c.latency_factor for c in ch])
        self.extra = np.array([c.extra_ms for c in ch], dtype=np.float64)
        self.no_route = np.array([c.no_route_share for c in ch])
        self.ledger = PacketLedger(self.channel_names)
        self.outages = self._draw_outages(start_ms, duration_ms)
        self.partitions = self._draw_partitions(len(region_of), start_ms, duration_ms)

    # -- schedules drawn once per run -------------------------------------------------------
    def _draw_outages(self, start: int, duration: int) -> list[list[tuple[int, int]]]:
        out = []
        for c in self.p.channels:
            spans = [(start + int(a * 1000), start + int(b * 1000)) for a, b in self.p.blackouts]
            if c.outage_per_hour > 0:
                t = float(start)
                while True:
                    t += self.rng.exponential(3_600_000 / c.outage_per_hour)
                    if t >= start + duration:
                        break
                    spans.append((int(t), int(t + self.rng.exponential(c.outage_mean_s * 1000))))
            out.append(spans)
        return out

    def _draw_partitions(self, n: int, start: int, duration: int) -> list[tuple[int, int, np.ndarray]]:
        pp = self.p.partitions
        spans = []
        if pp.per_hour > 0:
            t = float(start)
            while True:
                t += self.rng.exponential(3_600_000 / pp.per_hour)
                if t >= start + duration:
                    break
                members = self.rng.random(n) < pp.share
                spans.append((int(t), int(t + self.rng.exponential(pp.mean_s * 1000)), members))
        return spans

    def channel_up(self, ch: int, t: int) -> bool:
        return not any(a <= t < b for a, b in self.outages[ch])

    # -- per send -----------------------------------------------------------------------------
    def fanout(self, sender: int, recipients: np.ndarray, t: int, size: int) -> Fanout:
        n, C = len(recipients), self.nch
        rng = self.rng
        rs, rr = self.region_of[sender], self.region_of[recipients]
        base = self.median[rs, rr][:, None] * self.factor[None, :]
        lat = base * np.exp(self.p.sigma * rng.standard_normal((n, C))) + self.extra[None, :]
        if self.p.stall_share > 0:
            stall = rng.random((n, C)) < self.p.stall_share
            if stall.any():
                lat[stall] += rng.exponential(self.p.stall_mean_ms, int(stall.sum()))
        lat_i = lat.astype(np.int64) + 1
        outcome = np.full((n, C), FIRST, dtype=np.int8)
        outcome[rng.random((n, C)) < self.loss[None, :]] = LOST
        for a, b, members in self.partitions:
            if a <= t < b:
                cut = members[recipients] != members[sender]
                outcome[cut, :] = PARTITION
        if self.no_route.any():
            lo = np.minimum(recipients, sender).astype(np.uint64)
            hi = np.maximum(recipients, sender).astype(np.uint64)
            for c in range(C):
                if self.no_route[c] > 0:
                    h = (lo * np.uint64(2654435761) + hi * np.uint64(40503)
                         + np.uint64(97531 * (c + 1))) * np.uint64(2246822519)
                    u = (h >> np.uint64(40)).astype(np.float64) / float(1 << 24)
                    outcome[u < self.no_route[c], c] = NO_ROUTE
        for c in range(C):
            if self.outages[c] and not self.channel_up(c, t):
                outcome[:, c] = OUTAGE
        # The earliest surviving copy per recipient is delivered; later survivors are duplicates.
        ok = outcome == FIRST
        masked = np.where(ok, lat_i, np.iinfo(np.int64).max)
        first = masked.argmin(axis=1)
        has = ok[np.arange(n), first] if n else np.zeros(0, dtype=bool)
        outcome[ok] = DUPLICATE
        rows = np.nonzero(has)[0]
        outcome[rows, first[rows]] = FIRST
        first_channel = np.where(has, first, -1)
        # Book every copy now; deliveries that later find the receiver gone are moved by ``settle``.
        led = self.ledger
        led.copies += n * C
        led.copy_bytes += n * C * size
        for c in range(C):
            col = outcome[:, c]
            counts = np.bincount(col, minlength=6)
            for code in range(6):
                led.add(OUTCOME_NAMES[code], int(counts[code]), size, self.channel_names[c])
        return Fanout(recipients, lat_i, outcome, first_channel)

    def book_gone(self, n: int, size: int) -> None:
        """Copies of an addressed send to ``n`` addressees already offline: dropped on every channel."""
        led = self.ledger
        led.copies += n * self.nch
        led.copy_bytes += n * self.nch * size
        for name in self.channel_names:
            led.add(OFFLINE, n, size, name)

    def settle(self, reason: str, channel: int, size: int) -> None:
        """A copy booked as delivered did not reach the node (receiver offline / run ended)."""
        led = self.ledger
        name = self.channel_names[channel]
        led.outcomes["delivered"] -= 1
        led.outcome_bytes["delivered"] -= size
        led.by_channel[(name, "delivered")] -= 1
        led.add(reason, 1, size, name)
