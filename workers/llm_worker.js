// LLM worker (module worker): SmolLM2-135M-Instruct (q8) text generation through transformers.js.
//
// Messages, main -> worker:
//   {type: "load", model, dtype?}        model: "SmolLM2-135M-Instruct" (or role "llm"); dtype defaults
//                                        to the manifest's ("q8" = onnx/model_quantized.onnx)
//   {type: "generate", jobId, messages?: [{role, content}], prompt?: str, maxTokens, temperature}
//       messages go through the model's chat template; a bare prompt is sent as one user message.
//       temperature 0 (or absent) = greedy.
// worker -> main:
//   {type: "progress", status, file?, progress?, ...}  model loading (transformers.js callbacks)
//   {type: "progress", jobId, status: "generating", tokens}   during generation (every 8 tokens)
//   {type: "loaded", backend: "webgpu"|"wasm", model, dtype, sha256, ms}
//   {type: "result", jobId, output, tokenCount, ms}
//   {type: "error", jobId?, message}     jobId absent: loading failed
import { TextStreamer } from "../vendor/transformers/transformers.min.js";
import { loadPipeline, serve } from "./pipeline_worker.js";

let generator = null;

async function generate({ jobId, messages, prompt, maxTokens = 128, temperature = 0 }) {
  if (!generator) throw new Error("LLM not loaded");
  const started = performance.now();
  const chat = messages ?? [{ role: "user", content: String(prompt ?? "") }];
  let tokens = 0;
  const streamer = new TextStreamer(generator.tokenizer, {
    skip_prompt: true,
    skip_special_tokens: true,
    callback_function: () => {},  // text is returned whole in "result"
    token_callback_function: () => {
      tokens += 1;
      if (tokens % 8 === 0) self.postMessage({ type: "progress", jobId, status: "generating", tokens });
    },
  });
  const result = await generator(chat, {
    max_new_tokens: maxTokens,
    do_sample: temperature > 0,
    ...(temperature > 0 ? { temperature } : {}),
    streamer,
  });
  const output = result[0].generated_text.at(-1).content;
  self.postMessage({ type: "result", jobId, output, tokenCount: tokens, ms: performance.now() - started });
}

serve({
  load: async (msg) => { generator = await loadPipeline("text-generation", "llm", msg); },
  generate,
});
