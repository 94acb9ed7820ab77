"""The LLM worker's seeded sampling in chromium (wasm): a request at temperature 1 gives the same
tokens as the Node reference (rakis_py/bench/verify_llm.mjs) for the same request and model file,
and the worker's `verify` re-scores its own output at 1.0 and an edited one below it."""
import shutil

import pytest

from rakis_py.bench.verify_llm import NodeLLM, judge

pytestmark = pytest.mark.build

PROMPT = "Write a haiku about the sea."
MAX_TOKENS = 12

SEEDED_RUN = """async ({ prompt, maxTokens }) => {
  const worker = new Worker("./workers/llm_worker.js", { type: "module" });
  const replies = [];
  const next = (type) => new Promise((resolve, reject) => {
    const on = ({ data }) => {
      if (data.type === type) { worker.removeEventListener("message", on); resolve(data); }
      else if (data.type === "error") reject(new Error(data.message));
    };
    worker.addEventListener("message", on);
  });
  try {
    let p = next("loaded");
    worker.postMessage({ type: "load", model: "SmolLM2-135M-Instruct" });
    const loaded = await p;
    const job = { prompt, maxTokens, temperature: 1, requestId: "seeded-browser-1" };
    p = next("result");
    worker.postMessage({ type: "generate", jobId: "g1", ...job });
    const result = await p;
    p = next("verified");
    worker.postMessage({ type: "verify", jobId: "v1", ...job, tokenIds: result.tokenIds });
    const honest = await p;
    const edited = [...result.tokenIds];
    const at = Math.floor(edited.length / 2) - 1;
    edited[at] = edited[at] === 1000 ? 1001 : 1000;
    p = next("verified");
    worker.postMessage({ type: "verify", jobId: "v2", ...job, tokenIds: edited });
    const fake = await p;
    return { loaded, result, honest, fake };
  } finally {
    worker.terminate();
  }
}"""


@pytest.fixture(scope="module")
def seeded(page):
    return page.evaluate(SEEDED_RUN, {"prompt": PROMPT, "maxTokens": MAX_TOKENS})


def test_worker_result_carries_token_ids_and_seed(seeded, page):
    r = seeded["result"]
    assert seeded["loaded"]["backend"] == "wasm"
    assert r["seededBy"] == "request" and r["requestId"] == "seeded-browser-1"
    assert r["modelSha256"] == seeded["loaded"]["sha256"]
    assert 0 < len(r["tokenIds"]) == r["tokenCount"] <= MAX_TOKENS
    assert page.offsite == []


def test_worker_verifies_its_own_output_and_rejects_an_edit(seeded):
    honest, fake = seeded["honest"], seeded["fake"]
    assert honest["mode"] == "replay"                         # q8: see docs/verifiable-inference.md
    assert judge(honest, 1.0).accepted and honest["matches"] == honest["positions"]
    assert not judge(fake, 1.0).accepted


@pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js 20+) not installed")
def test_chromium_wasm_and_node_draw_the_same_tokens(seeded, dist):
    with NodeLLM(dist, optimised=False) as llm:
        node = llm.generate(PROMPT, "seeded-browser-1", llm.info["sha256"], MAX_TOKENS, 1.0)
    assert llm.info["sha256"] == seeded["loaded"]["sha256"]
    assert node["tokenIds"] == seeded["result"]["tokenIds"]
    assert node["output"] == seeded["result"]["output"]
