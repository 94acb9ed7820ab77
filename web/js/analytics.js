// Live series of the Analytics section, built incrementally from the tab's dataset records (the same
// records IndexedDB keeps; restored ones are fed first). Definitions follow rakis_py/analytics/metrics.py,
// over BUCKET_MS buckets of the last WINDOW_MS:
//   nodes      peers this node heard a packet from (first or redundant copy) in the last 10 min
//   tokens     cumulative tokens of the outputs this node saw revealed (each request and revealer
//              once), and of its own inferences
//   channels   packets from others first delivered by each channel, per bucket
//   outcomes   cumulative: own consensus success / failure, and requests whose published results
//              (>= 2 seen) all agree (full), agree by majority, or split
//   distances  mean distance of the winning cluster's members to its centre, per successful quorum
//   tokens/s   of each inference this node finished
export const BUCKET_MS = 10_000;
export const WINDOW_MS = 2 * 3600_000;
const ACTIVE_MS = 10 * 60_000;

export class LiveAnalytics {
  constructor(self) {
    this.self = self;
    this.heard = new Map();        // bucket -> Set of peers heard
    this.seenTokens = new Map();   // bucket -> tokens revealed
    this.ownTokens = new Map();    // bucket -> tokens of own inferences
    this.revealKeys = new Set();   // requestId|synthientId counted once
    this.channels = new Map();     // bucket -> Map channel -> packets
    this.channelNames = new Set();
    this.consensus = [];           // [t, success]
    this.published = new Map();    // requestId -> {t, results: Map verifiedBy -> hash}
    this.distances = [];           // [t, distance, unit]
    this.tps = [];                 // [t, tokens/s]
    this.counts = { records: 0, packets: 0, peers: new Set() };
    this.version = 0;              // bumped on every change: the charts redraw only then
    this.firstBucket = null;       // of the oldest record fed
  }

  add(records) {
    for (const r of records) this.#one(r);
    if (records.length) this.version += 1;
  }

  #one(r) {
    this.counts.records += 1;
    const t = r.t ?? 0;
    const b = Math.floor(t / BUCKET_MS);
    if (r.kind !== "meta" && t > 0) this.firstBucket = Math.min(this.firstBucket ?? b, b);
    switch (r.kind) {
      case "packet": {
        this.counts.packets += 1;
        if (!r.from || r.from === this.self) break;
        if (r.outcome === "accepted" || r.outcome === "duplicate") {
          addToSet(this.heard, b, r.from);
          this.counts.peers.add(r.from);
        }
        if (r.outcome === "accepted") {
          const m = this.channels.get(b) ?? new Map();
          m.set(r.channel, (m.get(r.channel) ?? 0) + 1);
          this.channels.set(b, m);
          this.channelNames.add(r.channel);
        }
        break;
      }
      case "reveal": {
        const key = `${r.requestId}|${r.synthientId}`;
        if (r.tokens != null && !this.revealKeys.has(key)) {
          this.revealKeys.add(key);
          addNum(this.seenTokens, b, r.tokens);
        }
        break;
      }
      case "request":
        if (r.state === "inferred" && r.tokens) addNum(this.ownTokens, b, r.tokens);
        break;
      case "consensus":
        this.consensus.push([t, !!r.success]);
        if (r.success && r.clusterDistance != null) this.distances.push([t, r.clusterDistance, r.distanceUnit]);
        break;
      case "published": {
        const p = this.published.get(r.requestId) ?? { t, own: null, results: new Map() };
        p.t = Math.max(p.t, t);
        if (!p.results.has(r.verifiedBy)) p.results.set(r.verifiedBy, r.bEmbeddingHash ?? null);
        if (r.own || r.verifiedBy === this.self) p.own = r.bEmbeddingHash ?? null;
        this.published.set(r.requestId, p);
        break;
      }
      case "worker":
        if (r.tokensPerSecond != null) this.tps.push([t, r.tokensPerSecond]);
        break;
      default:
        break;
    }
  }

  // Chart data: {x: [seconds], series: {name: [values]}} per chart (x in seconds for uPlot), and
  // range: [first, last] seconds shared by every chart (point charts included).
  snapshot(now = Date.now()) {
    const last = Math.floor(now / BUCKET_MS);
    const first = last - Math.floor(WINDOW_MS / BUCKET_MS) + 1;
    const start = Math.max(first, this.firstBucket ?? last);
    // Per-bucket sets older than the window and its 10-min lead are not needed any more.
    for (const map of [this.heard, this.channels]) {
      for (const b of map.keys()) if (b < first - ACTIVE_MS / BUCKET_MS) map.delete(b);
    }
    const x = [];
    for (let b = start; b <= last; b++) x.push((b + 1) * BUCKET_MS / 1000);
    return {
      range: [start * BUCKET_MS / 1000, (last + 1) * BUCKET_MS / 1000],
      nodes: { x, series: { "nodes heard (10 min)": this.#activeNodes(start, last) } },
      tokens: { x, series: { "seen revealed": this.#cumulative(this.seenTokens, start, last),
                             "own inferences": this.#cumulative(this.ownTokens, start, last) } },
      channels: { x, series: Object.fromEntries([...this.channelNames].sort().map((c) =>
        [c, range(start, last).map((b) => this.channels.get(b)?.get(c) ?? 0)])) },
      outcomes: { x, series: this.#outcomes(start, last) },
      distances: points(this.distances.filter(([t]) => t >= start * BUCKET_MS),
                        `cluster distance (${this.distances.at(-1)?.[2] ?? "bits"})`),
      tps: points(this.tps.filter(([t]) => t >= start * BUCKET_MS), "tokens/s"),
    };
  }

  // Totals for the text beside the charts.
  summary() {
    const agree = this.#agreement();
    return { records: this.counts.records, packets: this.counts.packets, peers: this.counts.peers.size,
             consensus: this.consensus.length, success: this.consensus.filter(([, ok]) => ok).length,
             full: agree.filter((a) => a.kind === "full").length, quorums: agree.length,
             tokens: sum(this.seenTokens.values()), own: sum(this.ownTokens.values()) };
  }

  // Sliding window over buckets: a peer counts while heard in the last ACTIVE_MS.
  #activeNodes(start, last) {
    const span = Math.ceil(ACTIVE_MS / BUCKET_MS);
    const live = new Map();
    const out = [];
    const addB = (b, d) => {
      for (const sid of this.heard.get(b) ?? []) {
        const n = (live.get(sid) ?? 0) + d;
        if (n > 0) live.set(sid, n); else live.delete(sid);
      }
    };
    for (let b = start - span + 1; b < start; b++) addB(b, 1);
    for (let b = start; b <= last; b++) {
      addB(b, 1);
      out.push(live.size);
      addB(b - span + 1, -1);
    }
    return out;
  }

  #cumulative(map, start, last) {
    let acc = 0;
    for (const [b, v] of map) if (b < start) acc += v;
    return range(start, last).map((b) => (acc += map.get(b) ?? 0));
  }

  // Published results per request (>= 2 seen): full agreement, majority or split against the reference.
  #agreement() {
    const out = [];
    for (const p of this.published.values()) {
      const hashes = [...p.results.values()];
      if (hashes.length < 2) continue;
      const [agree] = agreementCounts(p.own, hashes);
      out.push({ t: p.t, kind: agree === hashes.length ? "full" : agree > hashes.length / 2 ? "majority" : "split" });
    }
    return out;
  }

  #outcomes(start, last) {
    const events = { "own consensus: success": this.consensus.filter(([, ok]) => ok).map(([t]) => t),
                     "own consensus: failed": this.consensus.filter(([, ok]) => !ok).map(([t]) => t) };
    for (const kind of ["full", "majority", "split"]) {
      events[`published results: ${kind}`] = this.#agreement().filter((a) => a.kind === kind).map((a) => a.t);
    }
    return Object.fromEntries(Object.entries(events).map(([name, ts]) => {
      const per = new Map();
      for (const t of ts) addNum(per, Math.floor(t / BUCKET_MS), 1);
      return [name, this.#cumulative(per, start, last)];
    }));
  }
}

// The reference result a published result is compared against (rakis_py/protocol/reference.py, the
// same rule, tested against the same cases: tests/cases/reference_result.json): this node's own
// winner hash when it published one, else the most common hash, ties to the smallest (a missing hash
// counts as ""). null when there is neither.
export function referenceHash(own, hashes) {
  if (own != null) return own;
  const tally = new Map();
  for (const h of hashes) tally.set(h || "", (tally.get(h || "") ?? 0) + 1);
  if (!tally.size) return null;
  const top = Math.max(...tally.values());
  const best = [...tally].filter(([, n]) => n === top).map(([h]) => h).sort()[0];
  return best || null;
}

// [agree, disagree] of the published `hashes` against the reference.
export function agreementCounts(own, hashes) {
  const ref = referenceHash(own, hashes);
  const agree = ref == null ? 0 : hashes.filter((h) => (h || null) === ref).length;
  return [agree, hashes.length - agree];
}

function points(rows, name) {
  rows = [...rows].sort((a, b) => a[0] - b[0]);
  return { x: rows.map(([t]) => t / 1000), series: { [name]: rows.map(([, v]) => v) }, points: true };
}

function range(a, b) {
  const out = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

function addToSet(map, key, value) {
  const s = map.get(key) ?? new Set();
  s.add(value);
  map.set(key, s);
}

function addNum(map, key, n) {
  map.set(key, (map.get(key) ?? 0) + n);
}

function sum(values) {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
