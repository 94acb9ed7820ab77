// The LLM worker's seeded decode loop and verifier (workers/llm_decode.js) in Node, on dist's
// transformers.js bundle and a model directory, wasm, one thread, no network. A JSON-lines server:
// one request per stdin line, one reply per stdout line, so a Python driver (verify_llm.py, the
// tests) loads the model once and asks many questions.
//
//   node verify_llm.mjs DIST '{"model": "SmolLM2-135M-Instruct", "dtype": "q8", "models": DIR?}'
// DIR (default DIST/models) holds <model>/{config.json, tokenizer*.json, onnx/...}: a fixture such as
// another quantization lives outside dist. First line out: {ready, loadMs, sha256 (of the ONNX file
// loaded), vocab, stopIds}. Then per line in:
//   {op: "generate", messages, requestId, modelSha256, maxTokens, temperature, topK?, topP?}
//       -> {tokenIds, output, promptTokens, ms}
//   {op: "verify", ...same, tokenIds} -> {positions, matches, mismatches, problem, promptTokens, ms}
//   {op: "prompt", messages} -> {promptIds}
// A failure answers {error}.
import crypto from "node:crypto";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { nodeTransformers } from "./node_transformers.mjs";

const dist = path.resolve(process.argv[2]);
const opts = JSON.parse(process.argv[3] ?? "{}");
const modelsRoot = path.resolve(opts.models ?? path.join(dist, "models"));
const WORKERS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../workers");

const hashes = new Map();   // model file -> sha256 of the bytes served
const { AutoModelForCausalLM, AutoTokenizer, Tensor } = await nodeTransformers(dist, {
  modelsRoot,
  onFile: (file, body) => {
    if (file.endsWith(".onnx")) hashes.set(file, crypto.createHash("sha256").update(body).digest("hex"));
  },
});
const decodeLoop = await import(path.join(WORKERS, "llm_decode.js"));

const t0 = performance.now();
const modelName = opts.model ?? "SmolLM2-135M-Instruct";
const lm = {
  model: await AutoModelForCausalLM.from_pretrained(modelName, { dtype: opts.dtype ?? "q8", device: "wasm" }),
  tokenizer: await AutoTokenizer.from_pretrained(modelName),
  Tensor,
};
const write = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
write({ ready: true, loadMs: performance.now() - t0, sha256: [...hashes.values()][0] ?? null,
        vocab: lm.model.config.vocab_size, stopIds: decodeLoop.stopIds(lm) });

const OPS = {
  generate: (job) => decodeLoop.generateSeeded(lm, job),
  verify: (job) => decodeLoop.verifySeeded(lm, job),
  prompt: (job) => ({ promptIds: decodeLoop.promptIds(lm, job.messages) }),
};
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const job = JSON.parse(line);
    if (!Object.hasOwn(OPS, job.op)) throw new Error(`unknown op ${job.op}`);
    write(await OPS[job.op](job));
  } catch (err) {
    write({ error: String(err?.stack ?? err) });
  }
}
