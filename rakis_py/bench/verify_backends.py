"""Do chromium's LLM worker (wasm) and the Node reference draw the same tokens for the same request?
The seeded draw is bit-exact by construction; what can differ is the model's logits per backend.

    python -m rakis_py.bench.verify_backends [--prompts 10] [--tokens 32]

prints one JSON object: per temperature (1 and 0), how many prompts gave identical token ids, and
the first differing position of those that did not. Node: verify_llm.mjs (dist's transformers.js,
onnxruntime-web wasm, one thread); chromium: workers/llm_worker.js in headless chromium (wasm, as
here without a GPU)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from .browser import WORKER_JOBS
from .chromium import BLANK, ensure_dist, session, stop_session
from .runner import ROOT, Context
from .verify_llm import PROMPTS, NodeLLM


def first_difference(a: list[int], b: list[int]) -> Optional[int]:
    for t, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return t
    return None if len(a) == len(b) else min(len(a), len(b))


def measure(n_prompts: int, max_tokens: int) -> dict:
    ctx = Context(root=ROOT)
    dist = ensure_dist(ctx)
    cases = [(i, prompt, temperature) for i, prompt in enumerate(PROMPTS[:n_prompts]) for temperature in (1.0, 0.0)]
    jobs = [{"type": "generate", "jobId": f"g{i}-{t}", "prompt": p, "maxTokens": max_tokens, "temperature": t,
             "requestId": f"verify-bench-{i}"} for i, p, t in cases]
    s = session(ctx)
    context = s.new_context()
    try:
        page = context.new_page()
        page.goto(s.url + BLANK)
        chromium = page.evaluate(WORKER_JOBS, {"url": "./workers/llm_worker.js",
                                               "load": {"model": "SmolLM2-135M-Instruct"}, "jobs": jobs,
                                               "want": "result"})
    finally:
        context.close()
        stop_session(ctx)
    with NodeLLM(dist) as llm:
        node = [llm.generate(p, f"verify-bench-{i}", llm.info["sha256"], max_tokens, t) for i, p, t in cases]
        node_sha = llm.info["sha256"]
    out: dict = {"setup": {"prompts": n_prompts, "maxTokens": max_tokens, "chromiumBackend": chromium["loaded"]["backend"],
                           "sameModelFile": chromium["loaded"]["sha256"] == node_sha}}
    for temperature in (1.0, 0.0):
        pairs = [(c["tokenIds"], n["tokenIds"]) for (_, _, t), c, n in zip(cases, chromium["results"], node)
                 if t == temperature]
        diffs = [first_difference(a, b) for a, b in pairs]
        out[f"t{temperature:g}"] = {"identical": sum(d is None for d in diffs), "of": len(pairs),
                                    "firstDifference": [d for d in diffs if d is not None]}
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=32)
    args = ap.parse_args(argv)
    print(json.dumps(measure(args.prompts, args.tokens), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
