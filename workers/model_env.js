// Shared setup of the model workers: where transformers.js finds models and onnxruntime's wasm files
// (always local files of this site, never a CDN), and which device to run on.
//
// Layout (dist/): workers/ (this file), vendor/transformers/transformers.min.js,
// vendor/onnxruntime/ort-wasm-simd-threaded.asyncify.{mjs,wasm}, models/manifest.json,
// models/<name>/{config.json, tokenizer.json, tokenizer_config.json, onnx/model_quantized.onnx}.
import { env } from "../vendor/transformers/transformers.min.js";
import { toHex } from "../js/bytes.js";

const MODELS_URL = new URL("../models/", import.meta.url).href;
// transformers.js 4.3.1 skips its "does tokenizer_config.json exist" probe when localModelPath is an
// http(s) URL (and then loads no tokenizer): give it a path, which fetch() resolves against this
// worker's own URL, so the site also works below a sub-path.
const MODELS_PATH = relativeTo(self.location.href, MODELS_URL);

function relativeTo(from, to) {
  const a = new URL(from).pathname.split("/").slice(0, -1);
  const b = new URL(to).pathname.split("/");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return "../".repeat(a.length - i) + b.slice(i).join("/");
}
const ORT_URL = new URL("../vendor/onnxruntime/", import.meta.url).href;

let manifestPromise = null;

// sha256 of each watched model file as this worker fetched it (what it runs, not what the
// manifest says): transformers.js fetches through env.fetch, which we wrap.
const watched = new Set();         // file paths ending a URL, e.g. "all-MiniLM-L6-v2/onnx/model_quantized.onnx"
const fetchedSha256 = new Map();   // watched path -> hex

async function hashingFetch(url, init) {
  const res = await fetch(url, init);
  const href = String(url?.href ?? url);
  const file = [...watched].find((f) => href.endsWith(f));
  if (!file || res.status !== 200) return res;     // a Range probe (206) is not the file
  const bytes = await res.arrayBuffer();
  fetchedSha256.set(file, toHex(await crypto.subtle.digest("SHA-256", bytes)));
  return new Response(bytes, { status: res.status, statusText: res.statusText, headers: res.headers });
}

// models/manifest.json (written by build.py): {online, embeddingModelHash, models: {role: {name,
// dtype, sha256, hub_id?}}}. With --online-models the files come from the Huggingface hub.
export function loadManifest() {
  manifestPromise ??= fetch(new URL("manifest.json", MODELS_URL)).then((r) => {
    if (!r.ok) throw new Error(`models/manifest.json: HTTP ${r.status}`);
    return r.json();
  });
  return manifestPromise;
}

// Configure transformers.js for this site; returns {modelId, dtype, sha256, file} for `model` (a
// model name such as "all-MiniLM-L6-v2" or a manifest role such as "embedding"); `file` is the
// model file's path whose bytes are hashed as they load (null with --online-models).
export async function configure(model, dtype) {
  const manifest = await loadManifest();
  const entry = manifest.models[model] ?? Object.values(manifest.models).find((m) => m.name === model);
  if (!entry) throw new Error(`unknown model ${model} (models/manifest.json has ${Object.values(manifest.models).map((m) => m.name).join(", ")})`);
  env.backends.onnx.wasm.wasmPaths = ORT_URL;
  env.allowLocalModels = !manifest.online;
  env.allowRemoteModels = !!manifest.online;
  env.localModelPath = MODELS_PATH;
  env.useBrowserCache = !!manifest.online;
  env.fetch = hashingFetch;
  const file = !manifest.online && entry.path && entry.file ? `${entry.path}/${entry.file}` : null;
  if (file) watched.add(file);
  return {
    modelId: manifest.online ? entry.hub_id : entry.name,
    dtype: dtype ?? entry.dtype,
    sha256: entry.sha256 ?? null,
    file,
  };
}

// The sha256 of the model file this worker loaded, checked against the manifest: a file that is
// not the one the build pinned is refused (a verifier must run exactly the file requests name).
export function loadedSha256(cfg) {
  if (!cfg.file) return cfg.sha256;                   // hub files: the manifest names no hash
  const got = fetchedSha256.get(cfg.file);
  if (!got) throw new Error(`model file ${cfg.file} was not fetched, so its sha256 cannot be checked`);
  if (cfg.sha256 && got !== cfg.sha256) {
    throw new Error(`model file ${cfg.file} has sha256 ${got}, models/manifest.json pins ${cfg.sha256}: refusing to run it`);
  }
  return got;
}

// "webgpu" when the browser hands out an adapter, else "wasm" (not an error: the fallback).
export async function pickDevice() {
  try {
    if (navigator.gpu && (await navigator.gpu.requestAdapter())) return "webgpu";
  } catch (_) { /* no usable WebGPU */ }
  return "wasm";
}
