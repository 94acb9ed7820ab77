// Embedding worker (module worker): all-MiniLM-L6-v2 through transformers.js, mean pooling + L2 norm,
// returned as binary embeddings (sign bits).
//
// Messages, main -> worker:
//   {type: "load", model, dtype?}        model: "all-MiniLM-L6-v2" (or role "embedding"); dtype
//                                        defaults to the manifest's ("q8" = onnx/model_quantized.onnx)
//   {type: "embed", jobId, texts: [str]}
// worker -> main:
//   {type: "progress", status, file?, progress?, loaded?, total?}  model file loading (transformers.js)
//   {type: "loaded", backend: "webgpu"|"wasm", model, dtype, sha256, ms}
//   {type: "embeddings", jobId, bits: [Uint8Array per text], ms}
//       bits: numpy.packbits(vector > 0) (MSB first): 384 dims -> 48 bytes; each text is embedded
//       on its own (batch of 1), so its bits do not depend on the other texts of the job
//   {type: "error", jobId?, message}     jobId absent: loading failed
import { packSignBits } from "./packbits.js";
import { loadPipeline, serve } from "./pipeline_worker.js";

let extractor = null;

async function embed({ jobId, texts }) {
  if (!extractor) throw new Error("embedding model not loaded");
  const started = performance.now();
  // One text per run: the q8 model quantises activations per tensor (dynamic quantisation), so in a
  // padded batch a text's embedding would depend on its batch-mates. Verifiers need bits that are a
  // function of the text alone.
  const bits = [];
  for (const text of texts) {
    const tensor = await extractor([text], { pooling: "mean", normalize: true });
    bits.push(packSignBits(tensor.data));
  }
  self.postMessage({ type: "embeddings", jobId, bits, ms: performance.now() - started },
                   bits.map((b) => b.buffer));
}

serve({
  load: async (msg) => { extractor = (await loadPipeline("feature-extraction", "embedding", msg)).pipe; },
  embed,
});
