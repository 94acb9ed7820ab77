"""Seeded generation and verification by re-scoring with the real LLM (dist's SmolLM2 q8 through
dist's transformers.js, wasm, in Node; rakis_py/bench/verify_llm.mjs): the same request gives the
same tokens twice at temperature 1, an honest output verifies at 1.0, an edited one is rejected.
Skipped when dist/ is not built."""
import shutil
from pathlib import Path

import pytest

from rakis_py.bench.verify_llm import NodeLLM, judge

DIST = Path(__file__).parents[2] / "dist"
pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node (Node.js 20+) not installed"),
    pytest.mark.skipif(not (DIST / "models" / "SmolLM2-135M-Instruct").is_dir()
                       or not (DIST / "vendor" / "transformers").is_dir(),
                       reason="dist/ is not built (python3 build.py)"),
]
PROMPT = "Write a haiku about the sea."
MAX_TOKENS = 6


@pytest.fixture(scope="module")
def llm():
    # Baseline wasm (liftoff): 22 s to load + 49 s of calls at load 4 on 2 cores, against 79 s + 5 s
    # with --no-liftoff (optimised compile up front).
    with NodeLLM(DIST, optimised=False) as llm:
        yield llm


def test_honest_output_is_reproducible_and_verifies(llm):
    sha = llm.info["sha256"]
    a = llm.generate(PROMPT, "test-req-1", sha, MAX_TOKENS, 1.0)
    b = llm.generate(PROMPT, "test-req-1", sha, MAX_TOKENS, 1.0)
    assert a["tokenIds"] == b["tokenIds"] and a["output"] == b["output"]
    reply = llm.verify(PROMPT, "test-req-1", sha, MAX_TOKENS, 1.0, a["tokenIds"], "replay")
    verdict = judge(reply, 1.0)
    assert verdict.accepted and verdict.match_share == 1.0, reply

    edited = list(a["tokenIds"])
    at = len(edited) // 2 - 1
    edited[at] = 1000 if edited[at] != 1000 else 1001
    verdict = judge(llm.verify(PROMPT, "test-req-1", sha, MAX_TOKENS, 1.0, edited, "replay"), 1.0)
    assert not verdict.accepted and verdict.far >= 1
    reply = llm.verify(PROMPT, "test-req-1", sha, MAX_TOKENS, 1.0, a["tokenIds"][:3], "replay")
    assert "truncated" in reply["problem"] and reply["positions"] == 0     # refused on its shape
    assert not judge(reply, 1.0).accepted
    verdict = judge(llm.verify(PROMPT, "test-req-2", sha, MAX_TOKENS, 1.0, a["tokenIds"], "replay"), 1.0)
    assert not verdict.accepted                                     # the request id keys the draw
