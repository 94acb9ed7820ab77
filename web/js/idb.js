// IndexedDB key-value adapter over the node's tables (rakis_py/runtime/storage.py TABLES).
//
// Why direct IndexedDB and not `idb` from npm or Python FFI: the node needs four operations (open,
// one read-write transaction per batch of Persist actions, getAll per table at start, clear). That is
// ~100 lines of promise wrapping here; `idb` would add an npm part and a bundling step to the build
// for the same four calls, and driving IDBRequest objects from Python would mean proxies and
// callbacks crossing the FFI for every record. Python sees only JSON: the bridge hands this module the
// persist actions of one `handle()` call, and hands Python the result of `loadAll()` once at start.
//
// Records are stored as plain objects under out-of-line string keys. The packets table keeps the
// newest PACKET_CAP rows by receivedTime (v1's maxPacketDBSize) and, beyond them, every row received
// within REPLAY_WINDOW_MS of the newest, up to SEEN_CAP rows: Node.restore rebuilds the node's replay
// memory from this table, and that memory must cover the replay guard's whole window (the core's
// replay_past_ms + replay_future_ms; seen_cap). With the count cap alone a reloaded tab accepted
// again a packet older than the newest 5,000 but inside the window. The same rule as
// rakis_py/runtime/storage.py `packets_kept` (tests/unit/test_packet_retention.py checks the
// constants; docs/faults.md has the sizes).
//
// The tab's analytics dataset (web/js/dataset.js) has stores of its own, outside the node's tables
// (Node.restore never reads them): `dataset` holds rakis-dataset/1 records under keys
// [class, t, seq] (class 0 = compact records, 1 = raw packet/sent records), so each class is one
// key range in time order and age pruning is one range delete; `datasetMeta` holds the meta record.
export const TABLES = ["packets", "peers", "inferenceRequests", "inferenceResults", "inferenceEmbeddings",
                       "quorums", "consensusResults", "externalConsensusResults", "meta"];
export const DATASET = "dataset";
export const DATASET_META = "datasetMeta";
const STORES = [...TABLES, DATASET, DATASET_META];
export const PACKET_CAP = 5000;
export const REPLAY_WINDOW_MS = 12 * 60_000;
export const SEEN_CAP = 100_000;
const DB_VERSION = 2;

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export class Store {
  // windowMs 0: the count cap alone (tests).
  constructor(db, { packetCap = PACKET_CAP, windowMs = REPLAY_WINDOW_MS, seenCap = SEEN_CAP } = {}) {
    this.db = db;
    this.packetCap = packetCap;
    this.windowMs = windowMs;
    this.seenCap = seenCap;
    this.writes = 0;
  }

  static async open(name = "rakis-py", options = {}) {
    const request = indexedDB.open(name, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const table of STORES) {
        if (db.objectStoreNames.contains(table)) continue;
        const store = db.createObjectStore(table);
        if (table === "packets") store.createIndex("receivedTime", "receivedTime");
      }
    };
    return new Store(await done(request), options);
  }

  // ops: [{table, key, record}] (record null = delete), applied in order in one transaction.
  async applyBatch(ops) {
    if (!ops.length) return;
    const tables = [...new Set(ops.map((op) => op.table))];
    for (const t of tables) if (!TABLES.includes(t)) throw new Error(`unknown table ${t}`);
    const tx = this.db.transaction(tables, "readwrite");
    const end = finished(tx);
    for (const { table, key, record } of ops) {
      const store = tx.objectStore(table);
      if (record === null || record === undefined) store.delete(key);
      else store.put(record, key);
    }
    if (tables.includes("packets") && this.packetCap) this.#prunePackets(tx.objectStore("packets"));
    await end;
    this.writes += ops.length;
  }

  // Delete the oldest packets (by receivedTime) beyond what packetsKept keeps, inside the batch's
  // transaction.
  #prunePackets(store) {
    const index = store.index("receivedTime");
    const count = store.count();
    count.onsuccess = () => {
      const total = count.result;
      if (total <= this.packetCap) return;
      const trim = (inWindow) => {
        let excess = total - packetsKept(total, inWindow, this.packetCap, this.seenCap);
        if (excess <= 0) return;
        const cursor = index.openKeyCursor();
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (!c || excess <= 0) return;
          store.delete(c.primaryKey);
          excess -= 1;
          c.continue();
        };
      };
      if (!this.windowMs) { trim(0); return; }
      // The newest numeric receivedTime (strings sort after numbers in IndexedDB keys).
      const newest = index.openKeyCursor(IDBKeyRange.upperBound(Infinity), "prev");
      newest.onsuccess = () => {
        if (!newest.result) { trim(0); return; }
        const inWindow = index.count(IDBKeyRange.bound(newest.result.key - this.windowMs, Infinity));
        inWindow.onsuccess = () => trim(inWindow.result);
      };
    };
  }

  async getAll(table) {
    return done(this.db.transaction(table).objectStore(table).getAll());
  }

  async count(table) {
    return done(this.db.transaction(table).objectStore(table).count());
  }

  // Every table as {table: [records]}: what Node.restore reads.
  async loadAll() {
    const tx = this.db.transaction(TABLES);
    const out = {};
    await Promise.all(TABLES.map(async (t) => { out[t] = await done(tx.objectStore(t).getAll()); }));
    return out;
  }

  // ------------------------------------------------------------ the analytics dataset

  // Append rows [{key: [class, t, seq], record}] (and the meta record, when given) in one transaction.
  async datasetAppend(rows, meta = null) {
    const tx = this.db.transaction([DATASET, DATASET_META], "readwrite");
    const end = finished(tx);
    const store = tx.objectStore(DATASET);
    for (const { key, record } of rows) store.put(record, key);
    if (meta) tx.objectStore(DATASET_META).put(meta, "meta");
    await end;
  }

  async datasetMeta() {
    return done(this.db.transaction(DATASET_META).objectStore(DATASET_META).get("meta"));
  }

  async datasetCount(cls) {
    return done(this.db.transaction(DATASET).objectStore(DATASET).count(classRange(cls)));
  }

  // Records of one class with t >= since, in time order.
  async datasetRecords(cls, since = -Infinity) {
    const range = IDBKeyRange.bound([cls, since], [cls, Infinity]);
    return done(this.db.transaction(DATASET).objectStore(DATASET).getAll(range));
  }

  // Delete a class's records older than `before` (ms), then its `excess` oldest; resolves to the
  // number deleted by count (age deletes are one range delete, counted by the caller's recount).
  async datasetPrune(cls, { before = null, excess = 0 } = {}) {
    const tx = this.db.transaction(DATASET, "readwrite");
    const end = finished(tx);
    const store = tx.objectStore(DATASET);
    if (before !== null) store.delete(IDBKeyRange.bound([cls, -Infinity], [cls, before], false, true));
    let left = excess;
    if (left > 0) {
      const cursor = store.openKeyCursor(classRange(cls));
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c || left <= 0) return;
        store.delete(c.primaryKey);
        left -= 1;
        c.continue();
      };
    }
    await end;
    return excess - left;
  }

  async clear() {
    const tx = this.db.transaction(TABLES, "readwrite");
    const end = finished(tx);
    for (const t of TABLES) tx.objectStore(t).clear();
    await end;
  }
}

// How many packets (newest first) the table keeps: rakis_py/runtime/storage.py packets_kept.
export function packetsKept(total, inWindow, packetCap, seenCap) {
  if (!packetCap) return total;
  const window = seenCap ? Math.min(inWindow, seenCap) : inWindow;
  return Math.min(total, Math.max(packetCap, window));
}

function classRange(cls) {
  return IDBKeyRange.bound([cls, -Infinity], [cls, Infinity]);
}
