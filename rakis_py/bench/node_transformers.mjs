// dist's transformers.js bundle set up in Node as the page's worker runs it: onnxruntime-web (wasm),
// one thread (Node has no Web Worker global), model files read from a local folder as if fetched
// from the site's /models/, no network, no hub. Shared by node_llm.mjs and verify_llm.mjs.
//
//   const tf = await nodeTransformers(dist, { modelsRoot, onFile: (file, bytes) => ... });
import fs from "node:fs";
import path from "node:path";

export async function nodeTransformers(dist, { modelsRoot = path.join(dist, "models"), onFile } = {}) {
  // The bundle is the web build; hide Node so it picks onnxruntime-web (wasm) as in the page
  // instead of onnxruntime-node (which the build stubs out).
  Object.defineProperty(process, "release", { value: { name: "rakis-bench" } });
  const tf = await import(path.join(dist, "vendor/transformers/transformers.min.js"));
  const { env } = tf;
  env.fetch = async (url) => {
    const rel = decodeURIComponent(new URL(String(url), "http://bench.invalid/").pathname).replace(/^\/+models\/+/, "");
    const file = path.join(modelsRoot, rel);
    if (!file.startsWith(modelsRoot + path.sep) || !fs.existsSync(file)) return new Response(null, { status: 404 });
    const body = fs.readFileSync(file);
    onFile?.(file, body);
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
  env.backends.onnx.wasm.numThreads = 1;
  return tf;
}
