// The tab's analytics dataset (rakis-dataset/1, docs/dataset.md) in IndexedDB.
//
// Python records (rakis_py/browser/dataset.py): every answer of the node carries its new records in
// an emit of kind "dataset". Here they are appended to the `dataset` store (idb.js), batched: one
// transaction per FLUSH_MS or per FLUSH_COUNT records, since the page handles every packet through
// this path. Retention is the one stated in the meta record (Python's Retention, configurable with
// ?retention=<JSON> or localStorage "rakis.retention"): raw packet/sent records are pruned by count
// and age apart from the compact records, which are kept far longer. exportText() gives the whole
// kept dataset as JSON Lines (meta first, then records by time), the format `rakis analyze` reads.
export const RAW_KINDS = new Set(["packet", "sent"]);
const RAW = 1;
const COMPACT = 0;
const FLUSH_MS = 2000;
const FLUSH_COUNT = 1000;
const AGE_PRUNE_MS = 60_000;      // age limits are applied at most once a minute

export class DatasetLog {
  constructor(store, storedMeta, counts) {
    this.store = store;
    this.meta = storedMeta ?? null;       // replaced by setMeta() once Python made it
    this.counts = counts;                 // {0: compact, 1: raw} records in the store
    this.pending = [];
    this.metaDirty = false;
    this.timer = 0;
    this.writing = Promise.resolve();
    this.lastAgePrune = 0;
    // Keys must stay unique across reloads: a counter that starts at the boot time in µs.
    this.seq = Date.now() * 1000;
    this.stats = { appended: 0, flushes: 0, pruned: 0, errors: 0 };
    this.onError = null;
  }

  static async open(store) {
    const [meta, compact, raw] = await Promise.all([store.datasetMeta(), store.datasetCount(COMPACT),
                                                    store.datasetCount(RAW)]);
    return new DatasetLog(store, meta, { [COMPACT]: compact, [RAW]: raw });
  }

  // When recording started (kept across reloads), for the meta record Python builds.
  get started() {
    return this.meta?.started ?? null;
  }

  get size() {
    return this.counts[COMPACT] + this.counts[RAW] + this.pending.length;
  }

  setMeta(meta) {
    this.meta = meta;
    this.metaDirty = true;
    this.#schedule();
  }

  append(records) {
    for (const record of records) {
      const cls = RAW_KINDS.has(record.kind) ? RAW : COMPACT;
      this.pending.push({ cls, key: [cls, Number(record.t) || 0, this.seq++], record });
    }
    this.stats.appended += records.length;
    if (this.pending.length >= FLUSH_COUNT) this.flush();
    else this.#schedule();
  }

  #schedule() {
    if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  // Write what is pending (in order, one transaction), then prune; resolves when written.
  flush() {
    clearTimeout(this.timer);
    this.timer = 0;
    const rows = this.pending.splice(0);
    const meta = this.metaDirty ? this.meta : null;
    this.metaDirty = false;
    if (!rows.length && !meta) return this.writing;
    this.writing = this.writing.then(async () => {
      await this.store.datasetAppend(rows, meta);
      for (const r of rows) this.counts[r.cls] += 1;
      this.stats.flushes += 1;
      await this.#prune();
    }).catch((err) => {
      this.stats.errors += 1;
      this.onError?.(err);
    });
    return this.writing;
  }

  // Count limits with some slack (a prune per ~1% of growth, not per flush); age limits once a minute.
  async #prune() {
    const r = this.meta?.retention;
    if (!r) return;
    const now = Date.now();
    const ageDue = now - this.lastAgePrune >= AGE_PRUNE_MS;
    for (const [cls, max, age] of [[RAW, r.max_packets, r.max_packet_age_ms],
                                   [COMPACT, r.max_records, r.max_record_age_ms]]) {
      const slack = Math.max(50, Math.floor((max ?? 0) * 0.01));
      const excess = max ? this.counts[cls] - max : 0;
      const before = ageDue && age ? now - age : null;
      if (excess <= slack && before === null) continue;
      const deleted = await this.store.datasetPrune(cls, { before, excess: excess > slack ? excess : 0 });
      this.stats.pruned += deleted;
      this.counts[cls] = before === null ? this.counts[cls] - deleted : await this.store.datasetCount(cls);
    }
    if (ageDue) this.lastAgePrune = now;
  }

  // Every kept record, in time order (ties in append order), after a flush.
  async records({ since = -Infinity } = {}) {
    await this.flush();
    const [compact, raw] = await Promise.all([this.store.datasetRecords(COMPACT, since),
                                              this.store.datasetRecords(RAW, since)]);
    return merge(compact, raw);
  }

  // The dataset as JSON Lines text: the meta record, then every kept record.
  async exportText() {
    const records = await this.records();
    const lines = [JSON.stringify(this.meta), ...records.map((r) => JSON.stringify(r))];
    return { text: lines.join("\n") + "\n", records: records.length };
  }
}

// Two lists each in time order -> one (stable: compact first on equal t).
function merge(a, b) {
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i].t ?? 0) <= (b[j].t ?? 0))) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
