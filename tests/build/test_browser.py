"""The built site in Debian's chromium, with no network beyond the local server: Pyodide installs
numpy, pydantic and rakis-py from the dist lock; the model workers load the bundled models."""
import pytest

pytestmark = pytest.mark.build

PYODIDE_BOOT = """async () => {
  const { loadPyodide } = await import("./pyodide/pyodide.mjs");
  const py = await loadPyodide({ indexURL: new URL("./pyodide/", location.href).href });
  const loaded = await py.loadPackage(["numpy", "pydantic", "rakis-py"]);
  const out = py.runPython(`
import numpy, pydantic, rakis_py, rakis_py.protocol
import sys
f"{sys.version_info[0]}.{sys.version_info[1]} {numpy.__version__} {pydantic.VERSION} {int(numpy.packbits(numpy.array([1,0,1,1,0,0,0,0]))[0])}"
`);
  return { loaded: loaded.map((p) => p.name), out };
}"""


def test_pyodide_loads_rakis_py_offline(page):
    result = page.evaluate(PYODIDE_BOOT)
    # loadPackage reports success even when a wheel failed: check what it says it loaded.
    loaded = {name.replace("_", "-") for name in result["loaded"]}
    assert {"numpy", "pydantic", "pydantic-core", "rakis-py"} <= loaded
    python, numpy_version, pydantic_version, packed = result["out"].split()
    assert python == "3.14" and numpy_version == "2.4.3" and pydantic_version.startswith("2.")
    assert packed == "176"  # 0b10110000
    assert page.offsite == []


WORKER_RUN = """async ({ url, load, job, want }) => {
  const worker = new Worker(url, { type: "module" });
  const waitFor = (type) => new Promise((resolve, reject) => {
    worker.addEventListener("message", ({ data }) => {
      if (data.type === type) resolve(data);
      else if (data.type === "error") reject(new Error(data.message));
    });
    worker.addEventListener("error", (e) => reject(new Error(e.message || "worker error")));
  });
  try {
    const loadedP = waitFor("loaded");
    worker.postMessage({ type: "load", ...load });
    const loaded = await loadedP;
    const resultP = waitFor(want);
    worker.postMessage(job);
    const result = await resultP;
    if (result.bits) result.bits = result.bits.map((b) => Array.from(b));
    return { loaded, result };
  } finally {
    worker.terminate();
  }
}"""


def hamming(a, b):
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


SIMILAR_DISSIMILAR = ["A cat sits on the mat.", "A kitten is sitting on a rug.",
                      "The central bank raised interest rates again."]
REFERENCE_TEXTS = ["Binary embeddings let verifiers compare results cheaply.", "Hello world"]


@pytest.fixture(scope="module")
def embedded(page):
    """One embedding worker load for the module: bits of SIMILAR_DISSIMILAR + REFERENCE_TEXTS."""
    return page.evaluate(WORKER_RUN, {
        "url": "./workers/embedding_worker.js", "load": {"model": "all-MiniLM-L6-v2", "dtype": "q8"},
        "job": {"type": "embed", "jobId": "e1", "texts": SIMILAR_DISSIMILAR + REFERENCE_TEXTS},
        "want": "embeddings"})


def test_embedding_worker_separates_similar_from_dissimilar(embedded, page):
    assert embedded["loaded"]["backend"] == "wasm"  # headless without --enable-unsafe-webgpu: no adapter
    assert embedded["result"]["jobId"] == "e1"
    bits = embedded["result"]["bits"][:3]
    assert [len(b) for b in bits] == [48, 48, 48]
    assert hamming(bits[0], bits[1]) < hamming(bits[0], bits[2])
    assert hamming(bits[0], bits[1]) < hamming(bits[1], bits[2])
    assert page.offsite == []


REFERENCE = """
import json, sys
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
model_dir, texts = sys.argv[1], json.loads(sys.argv[2])
tok = Tokenizer.from_file(model_dir + "/tokenizer.json")
sess = ort.InferenceSession(model_dir + "/onnx/model_quantized.onnx")
names = {i.name for i in sess.get_inputs()}
out = []
for text in texts:  # one text per run, as the worker does
    enc = tok.encode(text)
    n = sum(enc.attention_mask)  # tokenizer.json may pad: keep the real tokens only
    ids = np.array([enc.ids[:n]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    hidden = sess.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    out.append(np.packbits(hidden[0].mean(0) > 0).tolist())
print(json.dumps(out))
"""


def test_embedding_bits_equal_numpy_packbits_of_onnxruntime(embedded, dist):
    """Same file, CPython onnxruntime + numpy.packbits (MSB first) vs the worker (which embedded these
    texts in a job with three others): the same bits up to a small cross-backend tolerance."""
    import json
    import subprocess

    from .conftest import ROOT
    python = ROOT / ".venv-build" / "bin" / "python"
    if not python.exists():
        pytest.skip("build venv absent (models came from the cache)")
    ref = json.loads(subprocess.run([str(python), "-c", REFERENCE, str(dist / "models" / "all-MiniLM-L6-v2"),
                                     json.dumps(REFERENCE_TEXTS)], capture_output=True, text=True, check=True).stdout)
    assert len(ref) == 2
    for ours, theirs in zip(embedded["result"]["bits"][3:], ref, strict=True):
        assert len(ours) == len(theirs) == 48
        assert hamming(ours, theirs) <= 2


def test_embedding_worker_uses_webgpu_when_chromium_offers_an_adapter(launch, base_url, embedded):
    """--enable-unsafe-webgpu gives headless chromium a (software) adapter: the worker must take the
    webgpu path and give (nearly) the same bits as wasm. Slow per embedding, so one short text."""
    from .conftest import open_page
    page = open_page(launch(["--enable-unsafe-webgpu"]), base_url)
    run = page.evaluate(WORKER_RUN, {
        "url": "./workers/embedding_worker.js", "load": {"model": "embedding"},
        "job": {"type": "embed", "jobId": "w1", "texts": SIMILAR_DISSIMILAR[:1]}, "want": "embeddings"})
    assert run["loaded"]["backend"] == "webgpu"
    assert hamming(run["result"]["bits"][0], embedded["result"]["bits"][0]) <= 4
    assert page.offsite == []
    page.context.close()


def test_llm_worker_answers_capital_of_france(page):
    run = page.evaluate(WORKER_RUN, {
        "url": "./workers/llm_worker.js", "load": {"model": "SmolLM2-135M-Instruct", "dtype": "q8"},
        "job": {"type": "generate", "jobId": "g1", "maxTokens": 24, "temperature": 0,
                "messages": [{"role": "user", "content": "What is the capital of France?"}]},
        "want": "result"})
    assert run["loaded"]["backend"] == "wasm"
    result = run["result"]
    assert result["jobId"] == "g1"
    assert "Paris" in result["output"], result["output"]
    assert 0 < result["tokenCount"] <= 24
    assert page.offsite == []
