// Reference for llm_tokens_per_s_ratio_vs_reference: the LLM of dist/ through the same
// transformers.js bundle the worker imports (dist/vendor/transformers), in Node, with no page,
// worker or bridge around it. Same model file, dtype, prompt, greedy decoding and token counting
// (a TextStreamer's token callback) as workers/llm_worker.js.
//
//   node node_llm.mjs DIST '{"model": "...", "dtype": "q8", "messages": [...], "maxTokens": 64, "runs": 3}'
// prints one JSON line: {loadMs, threads, runs: [{tokens, ms}], output}
import path from "node:path";

import { nodeTransformers } from "./node_transformers.mjs";

const dist = path.resolve(process.argv[2]);
const job = JSON.parse(process.argv[3]);
const { pipeline, TextStreamer } = await nodeTransformers(dist);

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
