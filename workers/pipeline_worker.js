// Boot shared by the model workers (llm_worker.js, embedding_worker.js): load a transformers.js
// pipeline for a manifest model, and answer the main thread's messages by type, a failure as an
// {type: "error", jobId?, message} reply (jobId absent: loading failed).
import { pipeline } from "../vendor/transformers/transformers.min.js";
import { configure, loadedSha256, pickDevice } from "./model_env.js";

// Load `task` for `model` (a model name or manifest role; `role` when absent). Posts
// {type: "progress", ...} while model files load and {type: "loaded", backend, model, dtype, sha256,
// ms} once ready; returns {pipe, sha256, dtype, backend} (sha256: of the model file loaded).
export async function loadPipeline(task, role, { model, dtype }) {
  const started = performance.now();
  const cfg = await configure(model ?? role, dtype);
  const backend = await pickDevice();
  const pipe = await pipeline(task, cfg.modelId, {
    dtype: cfg.dtype,
    device: backend,
    progress_callback: (info) => self.postMessage({ type: "progress", ...info }),
  });
  const sha256 = loadedSha256(cfg);        // the bytes loaded, not the manifest's word for them
  self.postMessage({ type: "loaded", backend, model: cfg.modelId, dtype: cfg.dtype, sha256,
                     ms: performance.now() - started });
  return { pipe, sha256, dtype: cfg.dtype, backend };
}

// Route each message to handlers[message.type].
export function serve(handlers) {
  self.onmessage = async ({ data }) => {
    try {
      if (!Object.hasOwn(handlers, data.type)) throw new Error(`unknown message type ${data.type}`);
      await handlers[data.type](data);
    } catch (err) {
      self.postMessage({ type: "error", jobId: data.jobId, message: err?.message ?? String(err) });
    }
  };
}
