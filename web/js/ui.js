// The page's UI: boot progress and errors, the identity form, the request form, one timeline per
// request, worker panel, stats, packets and logs. Plain DOM, no framework: the page is a handful of
// lists that are redrawn from state at most once per animation frame.
export const STEPS = ["requested", "inferring", "committed", "reveal", "consensus", "result"];

// Node request states (Emit "request") -> timeline step reached.
const STATE_STEP = {
  requested: "requested", inferring: "inferring", inferred: "inferring", committed: "committed",
  reveal_requested: "reveal", consensus: "consensus", done: "result",
};
// Quorum statuses of a restored request (request_view) -> step reached.
const STATUS_STEP = {
  awaiting_commitments: "requested", awaiting_reveal: "reveal", awaiting_consensus: "consensus",
  verifying_consensus: "consensus", completed: "result",
};
const MAX_LOG = 300;
const MAX_PACKETS = 200;
const MAX_PEERS = 100;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const short = (id) => (id ? `${id.slice(0, 8)}…` : "");
const time = (t) => (t ? new Date(t).toLocaleTimeString() : "");

// Rows of the packets list from stored packet records, newest first.
function storedRows(records) {
  return [...records].sort((a, b) => (b.receivedTime ?? 0) - (a.receivedTime ?? 0)).slice(0, MAX_PACKETS)
    .map((r) => ({ t: r.receivedTime, dir: "in", type: r.packet?.type, synthientId: r.synthientId,
                   channel: r.deliveredThrough, requestId: r.packet?.requestId, outcome: "stored", size: r.size }));
}

// A stored packet matches when the query is part of its type, sender, request id or channel.
function packetMatches(r, query) {
  return [r.packet?.type, r.synthientId, r.packet?.requestId, r.deliveredThrough]
    .some((v) => typeof v === "string" && v.toLowerCase().includes(query));
}

export class UI {
  constructor() {
    this.requests = new Map();    // requestId -> {requestId, prompt, steps: {step: t}, failed, result, view}
    this.logs = [];
    this.packets = [];
    this.stats = { packets: 0, rejected: 0, sent: 0 };
    this.workers = [];
    this.channels = [];           // transport health per channel (web/js/transport/health.js)
    this.peers = [];              // the node's peer table
    this.links = [];              // open Trystero links [{channel, peerId, synthientId}]
    this.downSeen = new Set();    // channels already logged as down
    this.relaySeen = new Map();   // channel -> last relay state seen
    this.status = {};
    this.dirty = new Set();
    this.frame = 0;
  }

  // ------------------------------------------------------------ boot and identity

  progress(step, state, detail = "") {
    let row = document.querySelector(`#boot-steps [data-step="${step}"]`);
    if (!row) {
      row = el("li", { "data-step": step }, el("span", { class: "name" }, step), el("span", { class: "state" }),
               el("span", { class: "detail" }));
      $("boot-steps").append(row);
    }
    row.dataset.state = state;
    row.querySelector(".state").textContent = state;
    row.querySelector(".detail").textContent = detail;
  }

  error(message, detail = "") {
    const box = $("errors");
    box.hidden = false;
    box.append(el("div", { class: "error" }, el("strong", {}, message), detail ? el("pre", {}, detail) : null));
    this.log("error", detail ? `${message}: ${detail}` : message);
  }

  identityForm({ stored, onSubmit }) {
    const form = $("identity-form");
    $("identity-overwrite-row").hidden = !stored;
    $("identity-submit").textContent = stored ? "Unlock" : "Create identity";
    $("identity-hint").textContent = stored
      ? "An identity is stored in this browser: enter its password."
      : "No identity yet: choose a password to encrypt a new one.";
    form.onsubmit = async (e) => {
      e.preventDefault();
      $("identity-message").textContent = "";
      $("identity-submit").disabled = true;
      try {
        await onSubmit($("identity-password").value, $("identity-overwrite").checked);
      } catch (err) {
        $("identity-message").textContent = err.message;
      } finally {
        $("identity-submit").disabled = false;
      }
    };
    // Disabled in the HTML until now: a click before this handler exists would submit the form
    // natively and reload the page (a race seen on a loaded machine).
    $("identity-submit").disabled = false;
  }

  identityMessage(text) {
    $("identity-message").textContent = text;
  }

  unlocked(synthientId, created) {
    $("identity").hidden = true;
    $("node-id").textContent = synthientId;
    this.log("info", `${created ? "created" : "unlocked"} identity ${synthientId}`);
  }

  showNode() {
    $("node").hidden = false;
  }

  // ------------------------------------------------------------ request form

  // defaults: the core's submit defaults (node_host.request_defaults), so the form and the node
  // cannot disagree; model: the LLM this tab runs (models/manifest.json), else the core's default.
  requestForm(onSubmit, defaults, model) {
    const f = $("request-form").elements;
    f.models.value = model ?? defaults.acceptedModels.join(", ");
    f.quorum.value = defaults.quorum;
    f.agreement.value = defaults.agreement;
    f.time.value = defaults.timeMs / 1000;
    f.maxTokens.value = defaults.maxTokens;
    f.temperature.value = defaults.temperature;
    f.distance.placeholder = `default (${defaults.distance})`;
    f.maxCommits.placeholder = `default (${defaults.maxCommits})`;
    $("request-form").onsubmit = async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const opts = {
        prompt: f.prompt.value,
        acceptedModels: f.models.value.split(",").map((s) => s.trim()).filter(Boolean),
        quorum: Number(f.quorum.value),
        agreement: Number(f.agreement.value),
        timeMs: Math.round(Number(f.time.value) * 1000),
        maxTokens: Number(f.maxTokens.value),
        temperature: Number(f.temperature.value),
      };
      if (f.distance.value !== "") opts.distance = Number(f.distance.value);
      if (f.maxCommits.value !== "") opts.maxCommits = Number(f.maxCommits.value);
      try {
        const id = await onSubmit(opts);
        this.log("info", `submitted request ${id}`);
      } catch (err) {
        this.error("Request not submitted", err.message);
      }
    };
  }

  datasetControls(download) {
    $("dataset-download").onclick = async () => {
      $("dataset-download").disabled = true;
      try {
        await download();
      } catch (err) {
        this.error("Dataset export failed", String(err?.message ?? err));
      } finally {
        $("dataset-download").disabled = false;
      }
    };
  }

  // Totals beside the charts (analytics.js summary + records kept in IndexedDB).
  setAnalytics(s) {
    this.analytics = s;
    this.#touch("analytics");
  }

  workerControls({ spawn, stop, follower }) {
    $("add-llm").onclick = () => spawn("llm");
    $("add-embedding").onclick = () => spawn("embedding");
    $("follower").onclick = () => follower();
    this.stopWorker = stop;
  }

  // ------------------------------------------------------------ node events

  onEmit(kind, data) {
    switch (kind) {
      case "request": this.#requestState(data); break;
      case "consensus":
        this.#req(data.requestId).consensus = data;
        if (data.success) this.#req(data.requestId).steps.consensus ??= data.t;
        break;
      case "submitted": this.#req(data.requestId).mine = true; break;
      case "packet":
        this.stats.packets += 1;
        this.#packet({ ...data, dir: "in" });
        break;
      case "sent":
        this.stats.sent += 1;
        this.#packet({ ...data, dir: "out", outcome: "sent" });
        break;
      case "rejected":
        this.stats.rejected += 1;
        this.#packet({ ...data, dir: "in", outcome: `rejected: ${data.code}` });
        this.log("warn", `rejected ${data.type ?? "packet"} from ${short(data.synthientId)}: ${data.code} ${data.detail ?? ""}`);
        break;
      case "worker": break;   // the pool redraws the panel
      case "dataset": return;  // analytics records: boot.js stores them and feeds the charts
      case "status": return;   // the answer's status: boot.js hands its parts to the setters below
      case "peer": return;     // a peer's record: the status's peer rows carry it to the table
      case "log": this.log(data.level ?? "info", data.message ?? JSON.stringify(data)); break;
      case "error": this.error(`Node error (${data.where})`, [data.message, data.detail].filter(Boolean).join("\n")); break;
      default: this.log("debug", `${kind} ${JSON.stringify(data).slice(0, 200)}`);
    }
    this.#touch(kind === "packet" || kind === "sent" || kind === "rejected" ? "packets" : "requests");
  }

  // A request as the node reports it (request_view): restored requests and final results.
  view(v) {
    if (!v) return;
    const r = this.#req(v.requestId);
    r.view = v;
    r.prompt ??= v.prompt;
    const step = STATUS_STEP[v.status];
    if (step) for (const s of STEPS.slice(0, STEPS.indexOf(step) + 1)) r.steps[s] ??= 0;
    if (v.status === "failed") r.failed = v.failure ?? "failed";
    if (v.result) r.result = v.result;
    this.#touch("requests");
  }

  #req(requestId) {
    let r = this.requests.get(requestId);
    if (!r) {
      r = { requestId, steps: {}, failed: null, result: null, view: null, prompt: null };
      this.requests.set(requestId, r);
    }
    return r;
  }

  #requestState(d) {
    const r = this.#req(d.requestId);
    if (d.prompt) r.prompt = d.prompt;
    const step = STATE_STEP[d.state];
    if (step) r.steps[step] ??= d.t;
    if (d.state === "failed" || d.state === "inference_failed" || d.state === "too_late_to_commit") {
      r.failed = d.reason ?? d.error ?? d.state;
    }
    this.log("info", `request ${d.requestId}: ${d.state}${d.reason ? ` (${d.reason})` : ""}`);
  }

  #packet(p) {
    this.packets.unshift(p);
    if (this.packets.length > MAX_PACKETS) this.packets.pop();
  }

  log(level, message) {
    this.logs.unshift({ t: Date.now(), level, message });
    if (this.logs.length > MAX_LOG) this.logs.pop();
    if (level === "error") console.error(message);
    this.#touch("logs");
  }

  setWorkers(list) {
    this.workers = list;
    // Model loading shows in the boot panel too (the worker panel appears only once the node is up).
    for (const w of list) {
      const files = Object.values(w.progress ?? {});
      const pct = files.length ? Math.round(files.reduce((a, b) => a + b, 0) / files.length) : 0;
      const detail = w.state === "loading" ? `${pct}%`
        : w.state === "ready" ? `${w.backend === "wasm" ? "wasm (no WebGPU adapter)" : w.backend}, ${Math.round(w.loadMs ?? 0)} ms`
        : w.error;
      this.progress(`${w.kind} ${w.model}`, w.state === "loading" ? "loading" : w.state, detail);
    }
    this.#touch("workers");
  }

  // Packets from the packets table (after a reload), newest first, as rows of the packets list.
  storedPackets(records) {
    const rows = storedRows(records);
    this.packets.push(...rows.slice(0, MAX_PACKETS - this.packets.length));
    this.#touch("packets");
  }

  // The search box queries the whole stored packets table (search(query) -> records), not just the
  // recent rows kept in memory; an empty box shows the live list again.
  packetSearch(search) {
    let pending = 0;
    $("packets-filter").oninput = (e) => {
      const query = e.target.value.trim().toLowerCase();
      clearTimeout(pending);
      pending = setTimeout(async () => {
        if (!query) {
          this.found = null;
          $("packets-found").textContent = "";
        } else {
          const hits = (await search()).filter((r) => packetMatches(r, query));
          if ($("packets-filter").value.trim().toLowerCase() !== query) return;   // typed on meanwhile
          this.found = storedRows(hits);
          $("packets-found").textContent = `${hits.length} stored packet${hits.length === 1 ? "" : "s"} match` +
            (hits.length > MAX_PACKETS ? ` (newest ${MAX_PACKETS} shown)` : "");
        }
        this.#touch("packets");
      }, 150);
    };
  }

  // Channel health: a channel whose relay is lost (or that goes down) is logged once and shown;
  // its coming back is logged too.
  setChannels(channels) {
    for (const c of channels) {
      const was = this.relaySeen.get(c.name);
      const down = c.state === "down" || (was === "open" && c.relay !== "open") || (this.downSeen.has(c.name) && c.relay !== "open");
      if (down && !this.downSeen.has(c.name)) {
        this.downSeen.add(c.name);
        this.log("warn", `channel ${c.name}: relay ${c.relay}, state ${c.state}${c.lastError ? ` (${c.lastError})` : ""}, ` +
                         `${c.peers ?? 0} open links; the node keeps working on the other channels`);
      } else if (!down && this.downSeen.has(c.name)) {
        this.downSeen.delete(c.name);
        this.log("info", `channel ${c.name} is back (${c.state}, relay ${c.relay}, ${c.peers} peers, rejoins ${c.rejoins ?? 0})`);
      }
      this.relaySeen.set(c.name, c.relay);
    }
    this.channels = channels;
    this.#touch("network");
  }

  // The node's peer table, most recently seen first: whole at boot, then the rows each answer
  // changed (updatePeers), at most MAX_PEERS shown.
  setPeers(rows) {
    this.peers = rows.slice(0, MAX_PEERS);
    this.#touch("network");
  }

  updatePeers(rows) {
    if (!rows.length) return;
    const fresh = new Set(rows.map((r) => r.synthientId));
    this.setPeers([...rows, ...this.peers.filter((p) => !fresh.has(p.synthientId))]
      .sort((a, b) => (b.lastSeen ?? 0) - (a.lastSeen ?? 0) || (a.synthientId < b.synthientId ? -1 : 1)));
  }

  // Open Trystero links [{channel, peerId, synthientId}].
  setLinks(links) {
    this.links = links;
    this.#touch("network");
  }

  setStatus(status) {
    this.status = status;
    this.#touch("stats");
  }

  // ------------------------------------------------------------ drawing

  #touch(part) {
    this.dirty.add(part);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.#draw());
  }

  #draw() {
    this.frame = 0;
    const parts = this.dirty;
    this.dirty = new Set();
    if (parts.has("requests")) this.#drawRequests();
    if (parts.has("workers")) this.#drawWorkers();
    if (parts.has("packets")) this.#drawPackets();
    if (parts.has("logs")) this.#drawLogs();
    if (parts.has("network")) this.#drawNetwork();
    if (parts.has("analytics")) this.#drawAnalytics();
    this.#drawStats();
  }

  #drawRequests() {
    const items = [...this.requests.values()].reverse().map((r) => {
      const reached = STEPS.filter((s) => s in r.steps);
      const last = reached.at(-1);
      const timeline = el("ol", { class: "timeline" }, STEPS.map((s) => el("li", {
        class: s in r.steps ? (s === last && r.failed ? "failed" : "done") : (r.failed ? "skipped" : ""),
        title: r.steps[s] ? time(r.steps[s]) : "",
      }, s)));
      const output = r.result?.validSingleInference?.output ?? r.consensus?.output;
      return el("li", { class: "request", "data-request-id": r.requestId },
        el("div", { class: "request-head" }, el("code", {}, r.requestId), r.mine ? el("span", { class: "tag" }, "mine") : null,
           el("span", { class: "prompt" }, r.prompt ?? "")),
        timeline,
        r.view ? el("div", { class: "counts" },
          `commits ${r.view.committed ?? 0} · reveals ${r.view.revealed ?? 0}` +
          (r.view.agreedSet != null ? ` · agreed set ${r.view.agreedSet}` : "") +
          ` · published results: ${r.view.agree ?? 0} agree, ${r.view.disagree ?? 0} disagree`) : null,
        r.failed ? el("div", { class: "failure" }, `failed: ${r.failed}`) : null,
        output != null ? el("div", { class: "result" }, el("strong", {}, "result: "), output) : null);
    });
    $("requests").replaceChildren(...items);
  }

  #drawNetwork() {
    const now = Date.now();
    $("channels").replaceChildren(...this.channels.map((c) => el("tr", { "data-channel": c.name, "data-state": c.state },
      el("td", {}, c.name), el("td", { class: "state" }, c.state), el("td", {}, c.relay),
      el("td", {}, String(c.peers ?? 0)), el("td", {}, c.lastMessageAt ? `${Math.round((now - c.lastMessageAt) / 1000)} s ago` : "–"),
      el("td", {}, `${c.received ?? 0} / ${c.sent ?? 0}`), el("td", {}, String(c.rejoins ?? 0)),
      el("td", { class: "error" }, c.lastError ?? ""))));
    const linked = new Map();
    for (const l of this.links) if (l.synthientId) linked.set(l.synthientId, [...(linked.get(l.synthientId) ?? []), l.channel]);
    $("peers").replaceChildren(...this.peers.map((p) => el("tr", { "data-peer": p.synthientId },
      el("td", {}, el("code", { title: p.synthientId }, short(p.synthientId))),
      el("td", {}, (p.seenOn ?? []).join(", ")), el("td", {}, (linked.get(p.synthientId) ?? []).join(", ") || "–"),
      el("td", {}, p.lastSeen ? `${Math.max(0, Math.round((now - p.lastSeen) / 1000))} s ago` : ""),
      el("td", {}, String(p.totalTokens ?? 0)),
      el("td", {}, p.llmWorkers != null || p.embeddingWorkers != null
        ? `${p.llmWorkers ?? 0} llm, ${p.embeddingWorkers ?? 0} emb` : String(p.totalWorkers ?? 0)))));
    $("no-peers").hidden = this.peers.length > 0;
  }

  #drawWorkers() {
    const rows = this.workers.map((w) => {
      const files = Object.values(w.progress ?? {});
      const loading = files.length ? `${Math.round(files.reduce((a, b) => a + b, 0) / files.length)}%` : "";
      const perf = w.kind === "llm"
        ? (w.tokensPerSecond ? `${w.tokensPerSecond.toFixed(1)} tok/s` : "")
        : (w.msPerJob ? `${w.msPerJob.toFixed(0)} ms/job` : "");
      return el("tr", { "data-worker-id": w.workerId, "data-state": w.state },
        el("td", {}, w.kind), el("td", {}, w.model),
        el("td", { class: "state" }, w.state === "loading" ? `loading ${loading}`
          : w.state + (w.busy ? ` (busy${w.live ? `, ${w.live.tokens} tokens` : ""})` : "")),
        el("td", {}, w.backend === "wasm" ? "wasm (no WebGPU)" : w.backend),
        el("td", {}, perf), el("td", { class: "error" }, w.error),
        el("td", {}, el("button", { type: "button", onclick: () => this.stopWorker?.(w.workerId) }, "stop")));
    });
    $("workers").replaceChildren(...rows);
    $("no-workers").hidden = this.workers.length > 0;
  }

  #drawPackets() {
    $("packets").replaceChildren(...(this.found ?? this.packets).map((p) => el("tr", { class: p.dir },
      el("td", {}, time(p.t)), el("td", {}, p.dir), el("td", {}, p.type ?? ""),
      el("td", {}, short(p.synthientId)), el("td", {}, p.channel ?? ""),
      el("td", {}, p.requestId ?? ""), el("td", {}, p.outcome ?? ""), el("td", {}, p.size ?? ""))));
  }

  #drawLogs() {
    $("logs").replaceChildren(...this.logs.map((l) => el("li", { class: l.level },
      `${time(l.t)} ${l.level} ${l.message}`)));
  }

  #drawAnalytics() {
    const s = this.analytics;
    $("analytics-summary").replaceChildren(...Object.entries({
      "records kept": s.stored, "packets recorded": s.packets, "peers heard": s.peers,
      "consensus (ok / all)": `${s.success} / ${s.consensus}`,
      "full agreement": `${s.full} of ${s.quorums} quorums`, "tokens seen / own": `${s.tokens} / ${s.own}`,
    }).map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, String(v)))));
  }

  #drawStats() {
    const s = this.status;
    const ready = this.workers.filter((w) => w.state === "ready").length;
    const tps = this.workers.filter((w) => w.tokensPerSecond).map((w) => w.tokensPerSecond.toFixed(1));
    $("stats").replaceChildren(...Object.entries({
      tokens: s.totalTokens ?? 0, workers: `${ready}/${this.workers.length} ready`, "tokens/s": tps.join(", ") || "–",
      peers: `${(s.peers ?? []).length} live, ${s.knownPeers ?? 0} known`, channels: (s.channels ?? []).join(", "),
      requests: this.requests.size,
      "packets in": this.stats.packets, "packets out": this.stats.sent, rejected: this.stats.rejected,
      timers: s.timers ?? 0, stored: s.persisted ?? 0, crypto: s.crypto ?? "",
    }).map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, String(v)))));
  }
}
