// The bridge between the page and the Python node (rakis_py/browser/node_host.py).
//
// Every call into Python goes through one queue, one at a time, with `callPromising`: the node's
// Ed25519 awaits WebCrypto through Pyodide's run_sync (JSPI), which only works in a promising call,
// and a second event must not enter Node.handle while the first one waits. Events and actions cross
// as JSON strings (one string in, one string out per event): no proxies to track or destroy.
//
// Actions are carried out here: persist -> one IndexedDB transaction per handle() call, setTimer /
// cancelTimer -> timers.js, send -> the transports, runInference / runEmbedding -> the worker pool,
// emit -> listeners (the UI, window.rakis). Every answer ends with an emit of kind "status" (the
// node's status, the views of the requests and the rows of the peers the event touched): it is kept
// as `status` and handed to the listeners, so one event is one crossing and the UI polls nothing.
export class NodeBridge {
  constructor({ host, store, timers, transports, workers }) {
    this.host = host;              // PyProxy of NodeHost
    // Bound-method proxies fetched once (each attribute access would make a new proxy).
    this.methods = Object.fromEntries(["boot", "handle", "request_view", "requests", "peer_table", "commits"]
      .map((name) => [name, host[name]]));
    this.store = store;
    this.timers = timers;
    this.transports = transports;
    this.workers = workers;
    this.queue = Promise.resolve();
    this.listeners = new Set();
    this.status = null;            // the node's status from the last answer
    this.persistQueue = Promise.resolve();
    this.counts = { events: 0, actions: 0, persisted: 0, errors: 0 };
  }

  onEmit(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // Run fn (which calls into Python) after everything queued before it.
  #serial(fn) {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  async #call(method, ...args) {
    const out = await this.methods[method].callPromising(...args);
    return typeof out === "string" ? JSON.parse(out) : out;
  }

  boot() {
    return this.#serial(async () => {
      const actions = await this.#call("boot", Date.now());
      await this.#carryOut(actions);
      return actions;
    });
  }

  // Hand one event to the node; resolves to the actions it returned (already carried out).
  dispatch(event) {
    return this.#serial(async () => {
      this.counts.events += 1;
      const actions = await this.#call("handle", JSON.stringify(event), Date.now());
      await this.#carryOut(actions);
      return actions;
    });
  }

  requestView(requestId) {
    return this.#serial(() => this.#call("request_view", String(requestId)));
  }

  requests() {
    return this.#serial(() => this.#call("requests"));
  }

  // The commits this node holds for one request (who committed, who revealed).
  commits(requestId) {
    return this.#serial(() => this.#call("commits", String(requestId)));
  }

  // The node's peer table (most recently seen first), for the peers list.
  peerTable(limit = 100) {
    return this.#serial(() => this.#call("peer_table", Date.now(), limit));
  }

  // Resolves once every batch handed to IndexedDB so far is committed.
  flushed() {
    return this.persistQueue;
  }

  async #carryOut(actions) {
    this.counts.actions += actions.length;
    const persist = actions.filter((a) => a.type === "persist");
    if (persist.length) {
      // Batches commit in order; the next event need not wait for the disk.
      this.persistQueue = this.persistQueue.then(() => this.store.applyBatch(persist)).then(
        () => { this.counts.persisted += persist.length; this.onPersisted?.(); },
        (err) => this.#emit({ type: "emit", kind: "error",
                              data: { where: "indexeddb", message: String(err?.message ?? err) } }));
    }
    for (const a of actions) {
      switch (a.type) {
        case "persist": break;
        case "setTimer": this.timers.set(a.timerId, a.at); break;
        case "cancelTimer": this.timers.cancel(a.timerId); break;
        case "send": this.transports.send(a.envelope, a.to); break;
        case "runInference":
        case "runEmbedding": this.workers.run(a); break;
        case "emit": this.#emit(a); break;
        default: this.#emit({ type: "emit", kind: "error", data: { where: "bridge", message: `unknown action ${a.type}` } });
      }
    }
  }

  #emit(action) {
    if (action.kind === "error") this.counts.errors += 1;
    if (action.kind === "status") this.status = action.data.status;
    for (const fn of this.listeners) {
      try { fn(action.kind, action.data); } catch (err) { console.error("emit listener", err); }
    }
  }
}
