// LLM worker (module worker): SmolLM2-135M-Instruct (q8) through transformers.js, with our own seeded
// sampling (workers/llm_decode.js, docs/verifiable-inference.md): every honest node running the same
// model file draws the same tokens for a request, at any temperature, and any node can re-score a
// claimed output.
//
// Messages, main -> worker:
//   {type: "load", model, dtype?}        model: "SmolLM2-135M-Instruct" (or role "llm"); dtype defaults
//                                        to the manifest's ("q8" = onnx/model_quantized.onnx)
//   {type: "generate", jobId, requestId?, messages?: [{role, content}], prompt?: str, maxTokens,
//    temperature, topK?, topP?}
//       messages go through the model's chat template; a bare prompt is sent as one user message.
//       temperature 0 (or absent) = greedy. The draw is keyed by requestId and the sha256 of the
//       model file this worker loaded; without a requestId the jobId keys it (deterministic, but
//       no other node can reproduce it).
//   {type: "verify", jobId, requestId, messages?|prompt?, tokenIds, maxTokens, temperature, topK?,
//    topP?, mode?: "prefill"|"replay"}
//       re-score a claimed output (default mode: verifyMode(dtype), see llm_decode.js)
// worker -> main:
//   {type: "progress", status, file?, progress?, ...}  model loading (transformers.js callbacks)
//   {type: "progress", jobId, status: "generating", tokens}   during generation (every 8 tokens)
//   {type: "loaded", backend: "webgpu"|"wasm", model, dtype, sha256, ms}
//   {type: "result", jobId, output, tokenCount, tokenIds, requestId, modelSha256, seededBy, ms}
//       seededBy: "request" | "job" (no requestId was given); modelSha256: null when the manifest
//       names no hash (--online-models): the draw is then keyed by 64 zeros
//   {type: "verified", jobId, positions, matches, mismatches: [{t, choice, claimed, rank, logitGap,
//    cdfGap}], problem, mode, modelSha256, ms}
//   {type: "error", jobId?, message}     jobId absent: loading failed
import { Tensor } from "../vendor/transformers/transformers.min.js";
import { generateSeeded, verifyMode, verifySeeded } from "./llm_decode.js";
import { loadPipeline, serve } from "./pipeline_worker.js";

const NO_HASH = "0".repeat(64);
let lm = null;          // {model, tokenizer, Tensor}
let loaded = null;      // {sha256, dtype}

function chatOf({ messages, prompt }) {
  return messages ?? [{ role: "user", content: String(prompt ?? "") }];
}

async function generate({ jobId, requestId, maxTokens = 128, temperature = 0, topK = 0, topP = 1, ...rest }) {
  if (!lm) throw new Error("LLM not loaded");
  const started = performance.now();
  const seedId = requestId ?? jobId;
  const r = await generateSeeded(lm, {
    messages: chatOf(rest), requestId: String(seedId), modelSha256: loaded.sha256 ?? NO_HASH,
    maxTokens, temperature, topK, topP,
    onToken: (tokens) => {
      if (tokens % 8 === 0) self.postMessage({ type: "progress", jobId, status: "generating", tokens });
    },
  });
  self.postMessage({ type: "result", jobId, output: r.output, tokenCount: r.tokenIds.length, tokenIds: r.tokenIds,
                     requestId: seedId, modelSha256: loaded.sha256, seededBy: requestId ? "request" : "job",
                     ms: performance.now() - started });
}

async function verify({ jobId, requestId, tokenIds, maxTokens, temperature = 0, topK = 0, topP = 1, mode, ...rest }) {
  if (!lm) throw new Error("LLM not loaded");
  if (requestId === undefined || requestId === null) throw new Error("verify needs the requestId that keyed the draw");
  const r = await verifySeeded(lm, {
    messages: chatOf(rest), requestId: String(requestId), modelSha256: loaded.sha256 ?? NO_HASH,
    tokenIds, maxTokens, temperature, topK, topP, mode: mode ?? verifyMode(loaded.dtype),
  });
  self.postMessage({ type: "verified", jobId, ...r, modelSha256: loaded.sha256 });
}

serve({
  load: async (msg) => {
    const { pipe, sha256, dtype } = await loadPipeline("text-generation", "llm", msg);
    lm = { model: pipe.model, tokenizer: pipe.tokenizer, Tensor };
    loaded = { sha256, dtype };
  },
  generate,
  verify,
});
