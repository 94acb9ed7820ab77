// Entry point of the page. Starts loading Python and the models at once, asks for the identity
// password meanwhile, then starts the node (restored from IndexedDB when it holds anything), wires
// timers, transports and workers to it, and publishes window.rakis.
//
// window.rakis (automation hook for tests and power users):
//   ready                   Promise, resolves when the node has booted (rejects on a fatal error)
//   unlock(password, {overwrite})  same as the identity form; resolves to the synthientId
//   status()                {synthientId, crypto, restored, workers: [{workerId, kind, model, state,
//                            backend, ...}], peers (live), knownPeers, channels, totalTokens,
//                            requests, timers, persisted, timings}
//   submit({prompt, quorum, agreement (%), timeMs, maxTokens, temperature, acceptedModels?,
//           distance? (bits), protocol?})   -> Promise<requestId>
//   request(requestId)      -> Promise<{status, committed, revealed, consensus, result, ...} | null>
//   requests()              -> Promise<[request views]>
//   workers.spawn(kind, model?) / workers.stop(workerId) / workers.follower()
//   flushed()               -> Promise: every IndexedDB write so far is committed
//   network()               {config, channels: [health per channel], links: [{channel, peerId,
//                            synthientId}], traffic: {packets, bytes, byType, byRequest}} (sent by
//                            this node, each packet counted once)
//   peers()                 -> Promise<[the node's peer table: synthientId, seenOn, lastSeen,
//                            totalTokens, totalWorkers, ...]>
//   commits(requestId)      -> Promise<[{synthientId, inferenceId, bEmbeddingHash, revealed,
//                            inAgreedSet, ...}]> the commits this node holds for the request
//   rejected()              [{code, detail, channel, synthientId, type, size, t}] packets the core
//                            refused (also in the page's log)
//   consensusEvents()       [{requestId, success, reason, accepted, winner, output, t, ...}] as
//                            the node computed them (t = the node's clock at that moment)
//   exportDataset()         -> Promise<{filename, records, bytes, text}>: this node's dataset
//                            (rakis-dataset/1, docs/dataset.md) as JSON Lines `text` (meta first),
//                            what the Analytics section's download button saves as `filename`
//                            (rakis-dataset-<id8>-<time>.jsonl); `rakis analyze` reads it
//   analytics()             {records, packets, peers, consensus, success, full, quorums, tokens,
//                            own, stored, dataset: {appended, flushes, pruned, errors}} live totals
//   debug                   {pyodide, bridge, store} once started (console use, not an API)
//
// URL parameters (tests, phones): ?llm=<model>&embedding=<model> choose the worker models,
// ?llmWorkers=N&embeddingWorkers=N how many to start (0 and 0 = follower mode).
// Network: ?network=<name> joins another network (v1 topic; default from rakis-config.json, else
// "rakis2"), ?channels=nostr,mqtt picks the channels (none = this tab alone; also read from
// localStorage "rakis.channels"), ?iceServers=<JSON list> overrides the config's ICE servers.
// Dataset retention: ?retention=<JSON> or localStorage "rakis.retention", e.g. {"maxPackets": 20000,
// "maxRecords": 200000, "maxPacketAgeMs": 86400000, "maxRecordAgeMs": null} (null = no age limit;
// defaults: rakis_py/analytics/recorder.py Retention).
import { NodeBridge } from "./bridge.js";
import { available as webcryptoEd25519, bridge as ed25519 } from "./ed25519.js";
import { hasIdentity, unlockOrCreate } from "./identity.js";
import { LiveAnalytics, WINDOW_MS } from "./analytics.js";
import { DatasetLog } from "./dataset.js";
import { Store } from "./idb.js";
import { Timers } from "./timers.js";
import { iceServersProblem } from "./transport/config.js";
import { NetworkTransport, Transports } from "./transport.js";
import { UI } from "./ui.js";
import { WorkerPool } from "./workers.js";

const PYODIDE_URL = new URL("../pyodide/", import.meta.url).href;
const MANIFEST_URL = new URL("../models/manifest.json", import.meta.url).href;
const PACKAGES = ["numpy", "pydantic", "rakis-py"];
const params = new URLSearchParams(location.search);

const ui = new UI();
const timings = {};
let bridge = null;
let spawnWorker = null;   // (kind, model?) -> workerId, set once the pool exists
let live = false;   // events go to the node only once it has booted and taken the early ones
const early = [];   // events (workers, timers, packets) that arrive before that, in order
const MAX_KEPT = 1000;
const rejectedLog = [];     // the core's "rejected" emits, newest last (window.rakis.rejected())
const consensusLog = [];    // the core's "consensus" emits (window.rakis.consensusEvents())
let networkConfig = null;
let datasetLog = null;      // the tab's dataset in IndexedDB (dataset.js)
let series = null;          // live chart series (analytics.js)
let charts = null;          // uPlot charts (charts.js), loaded once the node shows
let drawn = { version: -1, at: 0 };

function mark(name, t0) {
  timings[name] = Math.round(performance.now() - t0);
}

async function loadManifest() {
  const r = await fetch(MANIFEST_URL);
  if (!r.ok) throw new Error(`models/manifest.json: HTTP ${r.status}`);
  return r.json();
}

async function loadPython() {
  const t0 = performance.now();
  ui.progress("pyodide", "loading");
  const { loadPyodide } = await import(`${PYODIDE_URL}pyodide.mjs`);
  const py = await loadPyodide({ indexURL: PYODIDE_URL });
  mark("pyodide", t0);
  ui.progress("pyodide", "ready", `${timings.pyodide} ms`);
  const t1 = performance.now();
  ui.progress("rakis_py", "loading", PACKAGES.join(", "));
  const errors = [];
  // loadPackage resolves even when a package failed: compare what it says it loaded.
  const loaded = await py.loadPackage(PACKAGES, {
    messageCallback: (m) => ui.progress("rakis_py", "loading", m),
    errorCallback: (m) => errors.push(m),
  });
  const names = new Set(loaded.map((p) => p.name.toLowerCase().replace(/_/g, "-")));
  const missing = PACKAGES.filter((p) => !names.has(p));
  if (missing.length) throw new Error(`Python packages failed to load: ${missing.join(", ")}. ${errors.join(" ")}`);
  mark("packages", t1);
  const t2 = performance.now();
  py.runPython("import rakis_py.browser.node_host");
  mark("import", t2);
  mark("rakis_py", t1);
  ui.progress("rakis_py", "ready", `${timings.rakis_py} ms (packages ${timings.packages} ms, import ${timings.import} ms)`);
  return py;
}

function workerPlan(manifest) {
  const models = manifest.models ?? {};
  const count = (name, d) => (params.has(name) ? Math.max(0, Number(params.get(name)) || 0) : d);
  const saved = JSON.parse(localStorage.getItem("rakis.workers") ?? "null");
  return {
    llm: { model: params.get("llm") ?? models.llm?.name, n: count("llmWorkers", saved?.llm ?? 1) },
    embedding: { model: params.get("embedding") ?? models.embedding?.name,
                 n: count("embeddingWorkers", saved?.embedding ?? 1) },
  };
}

// The Trystero network (web/js/transport/): configuration from
// rakis-config.json (written by `rakis serve`; Trystero's public relays on a static host), then URL
// parameters. Does not block the boot: packets that arrive early wait in `early`.
const channelChoice = params.get("channels") ?? localStorage.getItem("rakis.channels");

// Fetched first thing, before Pyodide and the models load the CPU: a config that arrives too late
// would silently put a page served by `rakis serve` on the public relays.
async function loadNetworkConfig() {
  if (channelChoice === "none") return null;
  const { loadConfig } = await import("./transport/index.js");
  const config = await loadConfig({ topic: params.get("network"), timeoutMs: 30_000 });
  const iceServers = iceServersParam();
  if (iceServers) config.iceServers = iceServers;
  return config;
}

// ?iceServers=<JSON list of RTCIceServer>, checked as `rakis serve --ice-servers` checks it
// (transport/config.js iceServersProblem). A bad value is shown in the page and ignored: the tab
// keeps the configuration's ICE servers instead of failing every WebRTC link later.
function iceServersParam() {
  if (!params.has("iceServers")) return null;
  const text = params.get("iceServers");
  const problem = iceServersProblem(text);
  if (!problem) return JSON.parse(text);
  ui.error("The ?iceServers= URL parameter is not valid: it is ignored, the tab uses the configured ICE servers",
           `${problem}\nvalue: ${text}`);
  return null;
}

async function joinNetwork(configP, selfId, transports, onPacket) {
  const choice = channelChoice;
  if (choice === "none") {
    ui.log("info", "network off (channels=none): this tab is alone");
    return null;
  }
  const { createTransport } = await import("./transport/index.js");
  const config = await configP;
  const strategies = choice ? choice.split(",").map((c) => c.trim()).filter(Boolean) : null;
  networkConfig = { ...config, channels: strategies ?? Object.keys(config.relays) };
  ui.log("info", `joining network "${config.topic}" on ${networkConfig.channels.join(", ")} ` +
                 `(${config.source === "defaults" ? "public relays" : "relays from rakis-config.json"})`);
  const net = new NetworkTransport(createTransport, {
    selfId, config, strategies,
    onChange: (channels) => ui.setChannels(channels),
    onPeer: (e) => {
      ui.log("debug", `peer ${e.type} on ${e.channel}: ${e.synthientId ?? e.peerId}`);
      ui.setLinks(net.links());
    },
  });
  await transports.add(net, onPacket);
  ui.setChannels(net.health());
  for (const c of net.health()) {
    if (c.state === "down") ui.log("warn", `channel ${c.name} is down: ${c.lastError ?? ""}`);
  }
  return net;
}

function dispatch(event) {
  if (live) return bridge.dispatch(event).catch((err) => ui.error("Node call failed", String(err?.stack ?? err)));
  early.push(event);
  return Promise.resolve([]);
}

// Plain http from another machine is not a secure context: the browser gives it no crypto.subtle,
// which the identity's encryption, Trystero's signalling and Ed25519 all need. Say so up front.
function checkSecureContext() {
  if (globalThis.isSecureContext && globalThis.crypto?.subtle) return;
  throw new Error(`${location.origin} is not a secure context, so this browser gives the page no ` +
    "WebCrypto (crypto.subtle), which the identity, the network's signalling and signatures need. " +
    "Open the page over https, or on http://localhost / http://127.0.0.1, or mark this origin as " +
    "secure in chrome://flags/#unsafely-treat-insecure-origin-as-secure (docs/network.md, LAN).");
}

async function main() {
  checkSecureContext();
  const started = performance.now();
  const configP = loadNetworkConfig();
  configP.catch(() => {});   // reported where it is awaited
  const pythonP = loadPython();
  pythonP.catch(() => {});   // reported where it is awaited
  let manifest = { models: {} };
  try {
    manifest = await loadManifest();
  } catch (err) {
    ui.error("Model manifest missing: the node runs without workers", err.message);
  }
  const plan = workerPlan(manifest);

  const workers = new WorkerPool({
    onEvent: dispatch,
    onChange: () => ui.setWorkers(workers.list()),
    log: (level, message) => ui.log(level, message),
  });
  const spawn = (kind, model) => {
    const m = model ?? plan[kind].model;
    if (!m) { ui.error(`No ${kind} model in models/manifest.json`); return null; }
    return workers.spawn(kind, m);
  };
  spawnWorker = spawn;
  for (const kind of ["llm", "embedding"]) for (let i = 0; i < plan[kind].n; i++) spawn(kind);
  if (plan.llm.n + plan.embedding.n === 0) ui.log("info", "follower mode: no model workers");
  // Worker counts chosen in the UI are kept for the next visit (v1 kept them in its settings).
  const saveCounts = () => {
    const n = (kind) => workers.list().filter((w) => w.kind === kind).length;
    localStorage.setItem("rakis.workers", JSON.stringify({ llm: n("llm"), embedding: n("embedding") }));
  };
  ui.workerControls({
    spawn: (kind) => { spawn(kind); saveCounts(); },
    stop: (id) => { workers.stop(id); saveCounts(); },
    follower: () => { workers.stopAll(); saveCounts(); ui.log("info", "follower mode: all workers stopped"); },
  });

  // Identity: the form, or window.rakis.unlock(). Python keeps loading meanwhile.
  let resolveIdentity;
  const identityP = new Promise((r) => { resolveIdentity = r; });
  const unlock = async (password, { overwrite = false } = {}) => {
    const t0 = performance.now();
    const id = await unlockOrCreate(password, { overwrite });
    mark("identity", t0);
    ui.unlocked(id.synthientId, id.created);
    resolveIdentity(id);
    return id.synthientId;
  };
  if (!(await webcryptoEd25519())) {
    throw new Error("This browser's WebCrypto has no Ed25519 (needs Chromium 137+, Firefox 129+ or Safari 17+).");
  }
  // The core's Ed25519 awaits WebCrypto through JSPI (rakis_py/browser/webcrypto.py).
  if (typeof WebAssembly.Suspending !== "function") {
    throw new Error("This browser lacks WebAssembly JavaScript Promise Integration (JSPI), which the node " +
                    "needs to sign packets with WebCrypto from Python (Chromium 137+).");
  }
  ui.identityForm({ stored: hasIdentity(), onSubmit: (pw, overwrite) => unlock(pw, { overwrite }) });
  window.rakis.unlock = unlock;

  const [py, identity] = await Promise.all([pythonP, identityP]);
  const t0 = performance.now();
  ui.progress("node", "starting");
  // One tab per identity: a second tab would write the same tables and sign as the same node.
  if (navigator.locks) {
    const held = await new Promise((resolve) => {
      navigator.locks.request(`rakis-node-${identity.synthientId}`, { ifAvailable: true },
                              (lock) => { resolve(!!lock); return lock ? new Promise(() => {}) : null; });
    });
    if (!held) throw new Error("This identity is already running as a node in another tab of this browser.");
  }
  // One database per identity: overwriting the identity starts a new node and keeps the old data.
  const store = await Store.open(`rakis-py-${identity.synthientId.slice(0, 16)}`);
  const tables = await store.loadAll();
  datasetLog = await DatasetLog.open(store);
  const retention = params.get("retention") ?? localStorage.getItem("rakis.retention");
  const datasetOptions = { started: datasetLog.started ?? Date.now(),
                           retention: retention ? JSON.parse(retention) : null };
  const cryptoName = py.pyimport("rakis_py.browser.webcrypto").install(ed25519);
  const seed = crypto.getRandomValues(new Uint32Array(2));
  const options = { embeddingModel: manifest.models?.embedding?.name,
                    embeddingModelHash: manifest.embeddingModelHash };
  const hostModule = py.pyimport("rakis_py.browser.node_host");
  const host = await hostModule.start.callPromising(
    identity.privateKeyHex, JSON.stringify(options), JSON.stringify(tables), Date.now(),
    seed[0] * 2 ** 21 + (seed[1] >>> 11), identity.synthientId, cryptoName, JSON.stringify(datasetOptions));
  datasetLog.setMeta(JSON.parse(host.dataset_meta()));
  datasetLog.onError = (err) => ui.error("Could not store dataset records", String(err?.message ?? err));
  addEventListener("pagehide", () => datasetLog.flush());
  // The live charts start from the kept records of their window.
  series = new LiveAnalytics(identity.synthientId);
  series.add(await datasetLog.records({ since: Date.now() - WINDOW_MS - 600_000 }));

  const transports = new Transports();
  const timers = new Timers((timerId) => dispatch({ type: "timer", timerId }));
  bridge = new NodeBridge({ host, store, timers, transports, workers });
  Object.assign(window.rakis.debug, { pyodide: py, bridge, store });
  bridge.onEmit((kind, data) => ui.onEmit(kind, data));
  // The status that ends every answer: the stats line, and the request views and peer rows that
  // the event changed (the UI is pushed to, never polls the node).
  bridge.onEmit((kind, data) => {
    if (kind !== "status") return;
    ui.setStatus(status());
    for (const v of data.requests) ui.view(v);
    ui.updatePeers(data.peers);
    ui.setChannels(bridge.transports.health());   // per-channel counters (received, sent, last message)
    ui.setLinks(bridge.transports.links());
  });
  bridge.onEmit((kind, data) => {
    if (kind !== "dataset") return;
    datasetLog.append(data.records);
    series.add(data.records);
  });
  bridge.onEmit((kind, data) => {
    const keep = kind === "rejected" ? rejectedLog : kind === "consensus" ? consensusLog : null;
    if (!keep) return;
    keep.push(data);
    if (keep.length > MAX_KEPT) keep.shift();
  });
  bridge.onPersisted = () => ui.setStatus(status());
  // The node handles its own packets when it sends them (as v1 does): nothing echoes them back.
  const onPacket = (envelope, channel, size, receivedAt) =>
    dispatch({ type: "packet", data: envelope, channel, size, receivedAt });
  joinNetwork(configP, identity.synthientId, transports, onPacket)
    .catch((err) => ui.error("Could not join the network: this tab runs alone", String(err?.stack ?? err)));
  await bridge.boot();
  for (const v of await bridge.requests()) ui.view(v);
  ui.setPeers(await bridge.peerTable(100));
  ui.storedPackets(tables.packets ?? []);
  ui.packetSearch(() => store.getAll("packets"));
  live = true;
  for (const e of early.splice(0)) dispatch(e);
  mark("node", t0);
  timings.total = Math.round(performance.now() - started);
  ui.progress("node", "ready", `${Object.values(tables).reduce((n, t) => n + t.length, 0)} stored records, ` +
              `crypto: ${cryptoName}`);
  ui.requestForm((opts) => submit(opts), JSON.parse(hostModule.request_defaults()), manifest.models?.llm?.name);
  ui.showNode();
  ui.setStatus(status());
  ui.datasetControls(() => downloadDataset());
  import("./charts.js").then(({ LiveCharts }) => { charts = new LiveCharts(document.getElementById("charts")); drawAnalytics(); },
                             (err) => ui.error("Charts unavailable (vendor/uplot missing?)", String(err?.message ?? err)));
  setInterval(drawAnalytics, 2000);
}

// Charts redraw when records arrived, and every 10 s anyway (the node count slides with time).
function drawAnalytics() {
  if (!series) return;
  const now = Date.now();
  if (series.version !== drawn.version || now - drawn.at >= 10_000) {
    ui.setAnalytics({ ...series.summary(), stored: datasetLog.size });
    try {
      charts?.draw(series.snapshot(now));
    } catch (err) {
      console.error("charts", err);
    }
    drawn = { version: series.version, at: now };
  }
}

function analytics() {
  return series ? { ...series.summary(), stored: datasetLog.size, dataset: { ...datasetLog.stats } } : null;
}

async function exportDataset() {
  await ready;
  const { text, records } = await datasetLog.exportText();
  const id8 = (datasetLog.meta?.node ?? "unknown").slice(0, 8);
  const time = new Date().toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
  return { filename: `rakis-dataset-${id8}-${time}.jsonl`, records, bytes: new Blob([text]).size, text };
}

async function downloadDataset() {
  const { filename, text, records } = await exportDataset();
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  ui.log("info", `dataset downloaded: ${filename} (${records} records)`);
}

function status() {
  const s = bridge?.status ?? {};
  return {
    ...s,
    knownPeers: s.peers ?? 0,          // the node's peer table (Python); peers: live links (transports)
    workers: bridge?.workers.list() ?? [],
    peers: bridge?.transports.peers() ?? [],
    channels: bridge?.transports.channels() ?? [],
    timers: bridge?.timers.size ?? 0,
    persisted: bridge?.counts.persisted ?? 0,
    timings: { ...timings },
  };
}

async function submit(opts) {
  await window.rakis.ready;
  if (!opts || typeof opts.prompt !== "string" || !opts.prompt.trim()) throw new Error("a prompt is needed");
  const actions = await bridge.dispatch({ type: "submit", ...opts });
  const error = actions.find((a) => a.type === "emit" && a.kind === "error");
  if (error) throw new Error(error.data.message);
  const submitted = actions.find((a) => a.type === "emit" && a.kind === "submitted");
  if (!submitted) throw new Error("the node did not accept the request");
  return submitted.data.requestId;
}

const ready = main();
window.rakis = {
  ready,
  unlock: () => Promise.reject(new Error("the page is still starting")),
  status,
  submit,
  request: async (requestId) => { await ready; const v = await bridge.requestView(requestId); ui.view(v); return v; },
  requests: async () => { await ready; return bridge.requests(); },
  workers: {
    spawn: (kind, model) => spawnWorker?.(kind, model),
    stop: (id) => bridge?.workers.stop(id),
    list: () => bridge?.workers.list() ?? [],
  },
  flushed: async () => { await ready; await bridge.flushed(); await datasetLog.flush(); },
  network: () => ({ config: networkConfig, channels: bridge?.transports.health() ?? [],
                    links: bridge?.transports.links() ?? [],
                    traffic: structuredClone(bridge?.transports.traffic ?? {}) }),
  peers: async () => { await ready; return bridge.peerTable(1000); },
  commits: async (requestId) => { await ready; return bridge.commits(requestId); },
  rejected: () => rejectedLog.map((r) => ({ ...r })),
  consensusEvents: () => consensusLog.map((r) => ({ ...r })),
  exportDataset,
  analytics,
  debug: {},   // pyodide, bridge, store once started: for the console, not an API
};
ready.then(() => document.body.dataset.ready = "true",
           (err) => { document.body.dataset.ready = "failed"; ui.error("The node could not start", String(err?.stack ?? err)); });
