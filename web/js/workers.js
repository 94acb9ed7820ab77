// The model workers (workers/llm_worker.js, workers/embedding_worker.js; their message protocol is
// documented at their top). This module spawns and stops them, posts the node's RunInference /
// RunEmbedding (and, once the core emits it, RunVerification) actions to them, and turns their
// messages into node events:
//   loaded            -> {type: "worker", state: "ready", backend, sha256}   (sha256 of the model file)
//   error (no jobId)  -> {type: "worker", state: "failed", detail}   (the node runs on as a follower)
//   result            -> {type: "inferenceFinished", ..., tokenIds, requestId, modelSha256, seededBy}
//   verified          -> {type: "verificationFinished", jobId, positions, matches, mismatches, problem,
//                         mode, modelSha256}
//   embeddings        -> {type: "embeddingFinished", jobId, bits: [[0..255]]}
//   error (jobId)     -> {type: "inferenceFailed" | "verificationFailed" | "embeddingFailed", jobId, error}
// A runInference action's requestId keys the seeded draw (docs/verifiable-inference.md); an action
// without one is drawn with the jobId as key, which no other node can reproduce.
// and keeps per-worker figures for the worker panel (loading progress, tokens/s, ms per embedding).
const SCRIPTS = {
  llm: new URL("../workers/llm_worker.js", import.meta.url),
  embedding: new URL("../workers/embedding_worker.js", import.meta.url),
};
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const FAIL_TYPES = { runInference: "inferenceFailed", runVerification: "verificationFailed",
                     runEmbedding: "embeddingFailed" };

function suffix(n = 6) {
  const r = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(r, (b) => LETTERS[b % LETTERS.length]).join("");
}

export class WorkerPool {
  // onEvent(event): a node event; onChange(): the panel should redraw.
  constructor({ onEvent, onChange = () => {}, log = () => {} }) {
    this.onEvent = onEvent;
    this.onChange = onChange;
    this.log = log;
    this.workers = new Map();
  }

  spawn(kind, model) {
    if (!SCRIPTS[kind]) throw new Error(`unknown worker kind ${kind}`);
    const workerId = `${kind}-${model}-${suffix()}`;
    const info = { workerId, kind, model, state: "loading", backend: "", progress: {}, error: "",
                   jobs: 0, tokens: 0, busyMs: 0, live: null, startedAt: performance.now(), loadMs: null };
    let worker;
    try {
      worker = new Worker(SCRIPTS[kind], { type: "module" });
    } catch (err) {
      info.state = "failed";
      info.error = String(err?.message ?? err);
    }
    info.worker = worker;
    info.running = new Map();     // jobId -> {startedAt (epoch ms), t0 (perf ms)}
    this.workers.set(workerId, info);
    this.#event(info);
    if (!worker) return workerId;
    worker.onmessage = ({ data }) => this.#message(info, data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#failed(info, e.message || "the worker script failed to load");
    };
    worker.postMessage({ type: "load", model });
    return workerId;
  }

  stop(workerId) {
    const info = this.workers.get(workerId);
    if (!info) return;
    info.worker?.terminate();
    this.workers.delete(workerId);
    this.onEvent({ type: "worker", workerId, kind: info.kind, model: info.model, state: "gone",
                   backend: info.backend });
    this.onChange();
  }

  stopAll() {
    for (const id of [...this.workers.keys()]) this.stop(id);
  }

  // A RunInference / RunEmbedding / RunVerification action (codec.py shapes).
  run(action) {
    const info = this.workers.get(action.workerId);
    if (!info || info.state !== "ready") {
      this.onEvent({ type: FAIL_TYPES[action.type] ?? "inferenceFailed", jobId: action.jobId,
                     error: `worker ${action.workerId} is not ready` });
      return;
    }
    info.running.set(action.jobId, { startedAt: Date.now(), t0: performance.now(), type: action.type });
    if (action.type === "runInference") {
      info.worker.postMessage({ type: "generate", jobId: action.jobId, prompt: action.prompt,
                                maxTokens: action.maxTokens, temperature: action.temperature,
                                ...(action.requestId ? { requestId: action.requestId } : {}) });
    } else if (action.type === "runVerification") {
      info.worker.postMessage({ type: "verify", jobId: action.jobId, prompt: action.prompt,
                                requestId: action.requestId, tokenIds: action.tokenIds,
                                maxTokens: action.maxTokens, temperature: action.temperature,
                                ...(action.mode ? { mode: action.mode } : {}) });
    } else {
      info.worker.postMessage({ type: "embed", jobId: action.jobId, texts: action.texts });
    }
    this.onChange();
  }

  list() {
    return [...this.workers.values()].map(({ worker, running, ...rest }) => ({
      ...rest, busy: running.size > 0,
      tokensPerSecond: rest.busyMs && rest.kind === "llm" ? rest.tokens / (rest.busyMs / 1000) : null,
      msPerJob: rest.jobs ? rest.busyMs / rest.jobs : null,
    }));
  }

  #event(info, detail = "") {
    this.onEvent({ type: "worker", workerId: info.workerId, kind: info.kind, model: info.model,
                   state: info.state, backend: info.backend, detail, sha256: info.sha256 ?? null });
    this.onChange();
  }

  #failed(info, message) {
    if (info.state === "failed") return;
    info.state = "failed";
    info.error = message;
    this.log("error", `${info.workerId}: ${message}`);
    for (const [jobId, job] of info.running) this.#jobFailed(info, jobId, message, job.type);
    info.running.clear();
    this.#event(info, message);
  }

  #jobFailed(info, jobId, error, actionType) {
    const type = FAIL_TYPES[actionType] ?? (info.kind === "llm" ? "inferenceFailed" : "embeddingFailed");
    this.onEvent({ type, jobId, error });
  }

  #finish(info, jobId) {
    const job = info.running.get(jobId);
    info.running.delete(jobId);
    if (job) info.busyMs += performance.now() - job.t0;
    info.jobs += 1;
    info.live = null;
    return job ?? { startedAt: Date.now(), t0: performance.now() };
  }

  #message(info, data) {
    switch (data.type) {
      case "progress":
        if (data.jobId) info.live = { jobId: data.jobId, tokens: data.tokens };
        else if (data.file) info.progress[data.file] = data.progress ?? (data.status === "done" ? 100 : 0);
        this.onChange();
        break;
      case "loaded":
        info.state = "ready";
        info.backend = data.backend;
        info.loadMs = data.ms;
        info.sha256 = data.sha256 ?? null;
        this.log("info", `${info.workerId} ready on ${data.backend}` +
                 (data.backend === "wasm" ? " (no WebGPU adapter: WASM fallback)" : ""));
        this.#event(info);
        break;
      case "result": {
        const job = this.#finish(info, data.jobId);
        info.tokens += data.tokenCount;
        this.onEvent({ type: "inferenceFinished", jobId: data.jobId, output: data.output,
                       tokenCount: data.tokenCount, tokenIds: data.tokenIds, requestId: data.requestId,
                       modelSha256: data.modelSha256, seededBy: data.seededBy,
                       startedAt: job.startedAt, completedAt: Date.now() });
        this.onChange();
        break;
      }
      case "verified":
        this.#finish(info, data.jobId);
        this.onEvent({ type: "verificationFinished", jobId: data.jobId, positions: data.positions,
                       matches: data.matches, mismatches: data.mismatches, problem: data.problem,
                       mode: data.mode, modelSha256: data.modelSha256 });
        this.onChange();
        break;
      case "embeddings":
        this.#finish(info, data.jobId);
        this.onEvent({ type: "embeddingFinished", jobId: data.jobId,
                       bits: data.bits.map((b) => Array.from(b)),
                       // Float vectors, if the worker sends them (only v1-shaped reveals use them).
                       ...(data.embeddings ? { embeddings: data.embeddings.map((v) => Array.from(v)) } : {}) });
        this.onChange();
        break;
      case "error":
        if (data.jobId) {
          const actionType = info.running.get(data.jobId)?.type;
          this.#finish(info, data.jobId);
          this.log("warn", `${info.workerId} job ${data.jobId}: ${data.message}`);
          this.#jobFailed(info, data.jobId, data.message, actionType);
          this.onChange();
        } else {
          this.#failed(info, data.message);
        }
        break;
      default:
        this.log("warn", `${info.workerId}: unknown message ${data.type}`);
    }
  }
}
