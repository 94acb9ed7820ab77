// Reference for llm_tokens_per_s_ratio_vs_reference: the LLM of dist/ through the same
// transformers.js bundle the worker imports (dist/vendor/transformers), in Node, with no page,
// worker or bridge around it. Same model file, dtype, prompt, greedy decoding and token counting
// (a TextStreamer's token callback) as workers/llm_worker.js.
//
//   node node_llm.mjs DIST '{"model": "...", "dtype": "q8", "messages": [...], "maxTokens": 64, "runs": 3}'
// prints one JSON line: {loadMs, threads, runs: [{tokens, ms}], output}
import fs from "node:fs";
import path from "node:path";

const dist = path.resolve(process.argv[2]);
const job = JSON.parse(process.argv[3]);
// The bundle is the web build; hide Node so it picks onnxruntime-web (wasm) as in the page instead
// of onnxruntime-node (which the build stubs out).
Object.defineProperty(process, "release", { value: { name: "rakis-bench" } });
const { env, pipeline, TextStreamer } = await import(path.join(dist, "vendor/transformers/transformers.min.js"));

// Files come from dist/ as if fetched from the site: no network, no hub.
env.fetch = async (url) => {
  const rel = decodeURIComponent(new URL(String(url), "http://bench.invalid/").pathname).replace(/^\/+/, "");
  const file = path.join(dist, rel);
  if (!file.startsWith(dist + path.sep) || !fs.existsSync(file)) return new Response(null, { status: 404 });
  const body = fs.readFileSync(file);
  return new Response(body, { status: 200, headers: { "content-length": String(body.length) } });
};
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useBrowserCache = false;
env.localModelPath = "/models/";
const ort = path.join(dist, "vendor/onnxruntime");
env.backends.onnx.wasm ??= {};
env.backends.onnx.wasm.wasmBinary = fs.readFileSync(path.join(ort, "ort-wasm-simd-threaded.asyncify.wasm"));
env.backends.onnx.wasm.wasmPaths = { mjs: path.join(ort, "ort-wasm-simd-threaded.asyncify.mjs"),
                                     wasm: path.join(ort, "ort-wasm-simd-threaded.asyncify.wasm") };
// Node has no Web Worker global: onnxruntime-web runs single-threaded here.
env.backends.onnx.wasm.numThreads = 1;

const t0 = performance.now();
const generator = await pipeline("text-generation", job.model, { dtype: job.dtype, device: "wasm" });
const loadMs = performance.now() - t0;

async function once() {
  let tokens = 0;
  const streamer = new TextStreamer(generator.tokenizer, {
    skip_prompt: true, skip_special_tokens: true, callback_function: () => {},
    token_callback_function: () => { tokens += 1; },
  });
  const started = performance.now();
  const result = await generator(job.messages, { max_new_tokens: job.maxTokens, do_sample: false, streamer });
  return { tokens, ms: performance.now() - started, output: result[0].generated_text.at(-1).content };
}

await once();  // warm-up, as the page's worker gets one
const runs = [];
let output = "";
for (let i = 0; i < job.runs; i++) {
  const r = await once();
  output = r.output;
  runs.push({ tokens: r.tokens, ms: r.ms });
}
console.log(JSON.stringify({ loadMs, threads: 1, runs, output }));
