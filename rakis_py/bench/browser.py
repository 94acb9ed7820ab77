"""Figures of one tab in headless chromium: page open to node ready (cold profile, then a reload of
the same profile once its models have loaded) and its split as the page measures it
(status().timings: Pyodide, rakis_py; each model worker's own load, status().workers[].loadMs),
LLM tokens/s of the page's LLM worker and the ratio to the same model through the same
transformers.js in Node (the cost of our worker bridge and the browser), and one embedding of a
~200-token text in the embedding worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from .chromium import BLANK, ensure_dist, session
from .runner import Context, Group, Unavailable, summarize, unavailable

PASSWORD = "rakis bench"
BOOT_TIMEOUT_MS = 240_000
LLM_MESSAGES = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]
# ~200 tokens for all-MiniLM-L6-v2's WordPiece tokenizer (checked in the worker's tokenizer).
EMBED_TEXT = " ".join(
    ["Rakis runs inference in browser tabs: each node commits to a hash of its output's binary "
     "embedding, reveals it later, and verifiers recompute the embedding and compare bits within a "
     "small Hamming tolerance before the network agrees on one result."] * 4)

WORKER_JOBS = """async ({ url, load, jobs, want }) => {
  const worker = new Worker(url, { type: "module" });
  const next = (type) => new Promise((resolve, reject) => {
    const on = ({ data }) => {
      if (data.type === type || data.type === "error") {
        worker.removeEventListener("message", on);
        data.type === "error" ? reject(new Error(data.message)) : resolve(data);
      }
    };
    worker.addEventListener("message", on);
  });
  try {
    const loadedP = next("loaded");
    worker.postMessage({ type: "load", ...load });
    const loaded = await loadedP;
    const results = [];
    for (const job of jobs) {
      const p = next(want);
      worker.postMessage(job);
      const r = await p;
      delete r.bits;
      results.push(r);
    }
    return { loaded, results, cores: navigator.hardwareConcurrency };
  } finally {
    worker.terminate();
  }
}"""


def _boot(page, url: str) -> float:
    """Navigate, unlock with the password, wait for window.rakis.ready: seconds from navigation."""
    t0 = time.monotonic()
    page.goto(url)
    page.wait_for_selector("#identity-password", state="visible", timeout=BOOT_TIMEOUT_MS)
    page.fill("#identity-password", PASSWORD)
    page.click("#identity-submit")
    page.wait_for_function("document.body.dataset.ready", timeout=BOOT_TIMEOUT_MS, polling=50)
    elapsed = time.monotonic() - t0
    if page.evaluate("document.body.dataset.ready") != "true":
        raise RuntimeError(f"the node did not start: {page.inner_text('#errors')[:300]}")
    return elapsed


# The parts of page open -> node ready that the page times itself (web/js/boot.js `timings`, from
# the module's start: Pyodide's loadPyodide; rakis_py = its packages loaded and imported) and each
# model worker's load (workers/*_worker.js: from the load message to the model ready; the workers
# load while Pyodide does, so the parts overlap and do not add up to the total).
SPLIT = ("pyodide", "rakis_py", "llm_model", "embedding_model")


def split_names(kind: str) -> tuple[str, ...]:
    return tuple(f"ready_{kind}_{part}_s" for part in SPLIT)


READY_FIGURES = ("ready_cold_s", "ready_warm_s", *split_names("cold"), *split_names("warm"))
WORKERS_LOADED = ("window.rakis.status().workers.length > 0 && "
                  "window.rakis.status().workers.every(w => w.loadMs != null || w.state === 'failed')")
SPLIT_JS = """() => { const s = window.rakis.status();
  return { timings: s.timings, workers: s.workers.map((w) => ({ kind: w.kind, model: w.model, state: w.state,
                                                                 backend: w.backend, loadMs: w.loadMs })) }; }"""


def _split(page) -> tuple[dict[str, float], list[dict]]:
    """Wait for the model workers to finish loading; the split in seconds (part -> s) and the workers.
    A worker still loading after BOOT_TIMEOUT_MS leaves its part out (null with the reason)."""
    try:
        page.wait_for_function(WORKERS_LOADED, timeout=BOOT_TIMEOUT_MS, polling=100)
    except Exception:   # Playwright's TimeoutError: report what the page has
        pass
    st = page.evaluate(SPLIT_JS)
    parts = {"pyodide": st["timings"].get("pyodide"), "rakis_py": st["timings"].get("rakis_py")}
    for w in st["workers"]:
        if w.get("loadMs") is not None:
            parts.setdefault(f"{w['kind']}_model", w["loadMs"])
    return {k: v / 1000 for k, v in parts.items() if v is not None}, st["workers"]


def split_figures(kind: str, splits: list[dict[str, float]], workers: list[dict], note: str) -> dict:
    """ready_<kind>_<part>_s over the boots (null with the reason for a part no boot reported)."""
    models = {f"{w['kind']}_model": f"{w['model']} on {w.get('backend') or '?'}" for w in workers}
    out = {}
    for part, name in zip(SPLIT, split_names(kind)):
        values = [s[part] for s in splits if part in s]
        if not values:
            out[name] = unavailable(f"the page reported no {part} time (status().timings / workers[].loadMs)")
            continue
        what = (f"the worker's own load of {models[part]} (overlaps the rest)" if part in models
                else f"status().timings.{part} of the page")
        out[name] = summarize(values, "s", 2, f"{note}; {what}")
    return out


def measure_ready(ctx: Context, wanted: frozenset[str]) -> dict:
    s = session(ctx)
    cold, warm, channels = [], [], None
    cold_split, warm_split, workers = [], [], []
    want_warm = bool(wanted & {"ready_warm_s", *split_names("warm")})
    for _ in range(ctx.runs(2, 5)):
        context = s.new_context()   # an empty profile: no HTTP cache, no identity, no IndexedDB
        try:
            page = context.new_page()
            cold.append(_boot(page, s.url + "index.html"))
            channels = page.evaluate("window.rakis.status().channels")
            # Also before the reload: the warm boot then finds every file, the models included, cached.
            split, workers = _split(page)
            cold_split.append(split)
            if want_warm:
                warm.append(_boot(page, s.url + "index.html"))   # same profile: cached, stored node
                split, workers = _split(page)
                warm_split.append(split)
            if context.offsite:
                raise RuntimeError(f"the page requested off-machine URLs: {context.offsite[:3]}")
        finally:
            context.close()
    ctx.cache["page_channels"] = channels
    note = "headless chromium, page default workers (1 LLM + 1 embedding) loading meanwhile"
    out = {"ready_cold_s": summarize(cold, "s", 2, note)}
    out.update(split_figures("cold", cold_split, workers, "cold profile"))
    if warm:
        out["ready_warm_s"] = summarize(warm, "s", 2, note + "; reload of the same profile once its models "
                                        "had loaded (every file in the HTTP cache)")
        out.update(split_figures("warm", warm_split, workers, "reload of the same profile"))
    return out


def _worker_jobs(ctx: Context, url: str, load: dict, jobs: list[dict], want: str) -> dict:
    s = session(ctx)
    context = s.new_context()
    try:
        page = context.new_page()
        page.goto(s.url + BLANK)
        return page.evaluate(WORKER_JOBS, {"url": url, "load": load, "jobs": jobs, "want": want})
    finally:
        context.close()


def _manifest(dist: Path, role: str) -> dict:
    return json.loads((dist / "models" / "manifest.json").read_text())["models"][role]


def node_reference(ctx: Context, dist: Path, model: dict, max_tokens: int, runs: int) -> dict:
    if shutil.which("node") is None:
        raise Unavailable("node is not installed")
    job = {"model": model["name"], "dtype": model["dtype"], "messages": LLM_MESSAGES,
           "maxTokens": max_tokens, "runs": runs}
    # --no-liftoff: wasm compiled optimised up front. Node 20's lazy tier-up left the decode loop
    # in baseline code (~3x slower here), which would flatter the page, not measure the bridge.
    r = subprocess.run(["node", "--no-liftoff", str(Path(__file__).with_name("node_llm.mjs")), str(dist),
                        json.dumps(job)],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"node reference failed: {r.stderr.strip()[-300:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure_llm(ctx: Context, wanted: frozenset[str]) -> dict:
    dist = ensure_dist(ctx)
    model = _manifest(dist, "llm")
    runs, max_tokens = ctx.runs(3, 5), ctx.runs(48, 128)   # odd: see the ratio
    job = {"type": "generate", "messages": LLM_MESSAGES, "maxTokens": max_tokens, "temperature": 0}
    got = _worker_jobs(ctx, "./workers/llm_worker.js", {"model": model["name"], "dtype": model["dtype"]},
                       [{**job, "jobId": f"g{i}"} for i in range(runs + 1)], "result")
    page = [r["tokenCount"] / (r["ms"] / 1000) for r in got["results"][1:]]   # first one: warm-up
    backend = got["loaded"]["backend"]
    page_threads = min(4, -(-got["cores"] // 2))   # onnxruntime-web's default numThreads
    note = f"{model['name']} {model['dtype']}, {backend}, greedy, up to {max_tokens} new tokens"
    out = {"llm_tokens_per_s_wasm": summarize(page, "tokens/s", 2, note)}
    if "llm_tokens_per_s_ratio_vs_reference" in wanted:
        try:
            ref = node_reference(ctx, dist, model, max_tokens, runs)
            ref_tps = [r["tokens"] / (r["ms"] / 1000) for r in ref["runs"]]
            # Runs are paired by rank: with an odd count the median is the ratio of the medians.
            ratios = [a / b for a, b in zip(sorted(page), sorted(ref_tps))]
            out["llm_tokens_per_s_ratio_vs_reference"] = summarize(ratios, "ratio", 3,
                            f"page median {summarize(page, '', 2)['median']} tokens/s vs Node "
                            f"transformers.js (same bundle and file, wasm, {ref['threads']} thread, --no-liftoff; the "
                            f"page: onnxruntime's default {page_threads} thread(s) for {got['cores']} cores) "
                            f"median {summarize(ref_tps, '', 2)['median']} tokens/s")
        except Unavailable as e:
            out["llm_tokens_per_s_ratio_vs_reference"] = unavailable(str(e))
    return out


def measure_embed(ctx: Context, wanted: frozenset[str]) -> dict:
    dist = ensure_dist(ctx)
    model = _manifest(dist, "embedding")
    runs = ctx.runs(5, 20)
    jobs = [{"type": "embed", "jobId": f"e{i}", "texts": [EMBED_TEXT]} for i in range(runs + 1)]
    got = _worker_jobs(ctx, "./workers/embedding_worker.js", {"model": model["name"], "dtype": model["dtype"]},
                       jobs, "embeddings")
    ms = [r["ms"] for r in got["results"][1:]]
    return {"embed_ms": summarize(ms, "ms", 1, f"{model['name']} {model['dtype']}, "
                                  f"{got['loaded']['backend']}, one ~200-token text, in the worker")}


READY = Group("browser-ready", READY_FIGURES, measure_ready)
LLM = Group("browser-llm", ("llm_tokens_per_s_wasm", "llm_tokens_per_s_ratio_vs_reference"), measure_llm)
EMBED = Group("browser-embed", ("embed_ms",), measure_embed)
