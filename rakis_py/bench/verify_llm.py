"""Seeded sampling and verification by re-scoring, measured with the real LLM in Node (wasm, one
thread): honest determinism, honest verification, verification cost, and the score and verdict of
each kind of fake output (docs/verifiable-inference.md reports a run).

    python -m rakis_py.bench.verify_llm [--dist dist] [--prompts 24] [--tokens 48] [--models DIR --dtype q8]
                                        [--mode prefill|replay] [--honest-modes prefill,replay] [--fake-prompts 10]
                                        [--fixture DIR --fixture-dtype fp32] [--out FILE]

prints one JSON object. The Node side is verify_llm.mjs (workers/llm_decode.js on dist's
transformers.js); the verdict is rakis_py.protocol.sampling.judge_output, the rule a node applies.
--fixture DIR: a models directory holding another build of the same model (e.g. an fp32 or 4-bit
export, never shipped): its outputs, seeded as if they came from the pinned file, are verified
against the pinned file ("another quantization" attack).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

from ..protocol.sampling import DEFAULT_RULE, PositionScore, VerdictRule, judge_output

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.", "Explain photosynthesis in one sentence.",
    "Give me three tips for better sleep.", "What is 17 times 23?", "Translate 'good morning' into Spanish.",
    "Name a famous painting by Leonardo da Vinci.", "Why is the sky blue?", "Write a short poem about autumn.",
    "What does a CPU do?", "Suggest a name for a pet turtle.", "Describe a cat in two sentences.",
    "What is the boiling point of water?", "List three primary colors.", "How do airplanes stay in the air?",
    "Write a one-line joke about computers.", "What is the largest planet in our solar system?",
    "Give a synonym for 'happy'.", "What is machine learning?", "Tell me a fun fact about octopuses.",
    "How many days are in a leap year?", "What is the opposite of 'ancient'?",
    "Summarize the plot of Cinderella in one sentence.", "What is the chemical symbol for gold?",
    "Recommend a book for a long train ride.", "What causes rain?", "Write a greeting for a birthday card.",
    "Who wrote Romeo and Juliet?", "What is a prime number?", "How do you make a cup of tea?",
]


class NodeLLM:
    """One verify_llm.mjs process: the model loaded once, then generate/verify calls."""

    def __init__(self, dist: Path, *, models: Optional[Path] = None, model: str = "SmolLM2-135M-Instruct",
                 dtype: str = "q8", optimised: bool = True):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        opts: dict[str, Any] = {"model": model, "dtype": dtype}
        if models is not None:
            opts["models"] = str(models)
        # --no-liftoff: wasm compiled optimised up front (Node 20's lazy tier-up left the decode loop
        # in baseline code, ~3x slower; see browser.py). For timing; a short test loads faster without.
        flags = ["--no-liftoff"] if optimised else []
        self.proc = subprocess.Popen([node, *flags, str(HERE / "verify_llm.mjs"), str(dist), json.dumps(opts)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.info = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"verify_llm.mjs exited: {err[-2000:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def call(self, op: str, **job: Any) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **job}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def generate(self, prompt: str, request_id: str, model_sha256: str, max_tokens: int,
                 temperature: float) -> dict:
        return self.call("generate", messages=[{"role": "user", "content": prompt}], requestId=request_id,
                         modelSha256=model_sha256, maxTokens=max_tokens, temperature=temperature)

    def verify(self, prompt: str, request_id: str, model_sha256: str, max_tokens: int, temperature: float,
               token_ids: list[int], mode: str = "prefill") -> dict:
        return self.call("verify", messages=[{"role": "user", "content": prompt}], requestId=request_id,
                         modelSha256=model_sha256, maxTokens=max_tokens, temperature=temperature,
                         tokenIds=token_ids, mode=mode)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> "NodeLLM":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def position_scores(reply: dict) -> list[PositionScore]:
    """The verifier's mismatches as PositionScores (JSON null logit gap = infinite)."""
    return [PositionScore(m["choice"], m["claimed"], m["rank"],
                          float("inf") if m["logitGap"] is None else m["logitGap"], m["cdfGap"])
            for m in reply["mismatches"]]


def judge(reply: dict, temperature: float, rule: VerdictRule = DEFAULT_RULE):
    return judge_output(position_scores(reply), reply["positions"], temperature, reply["problem"], rule)


def _summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(dist: Path, n_prompts: int, max_tokens: int, *, models: Optional[Path] = None, dtype: str = "q8",
            mode: str = "prefill", honest_modes: tuple[str, ...] = ("prefill",), fake_prompts: int = 10,
            fixture: Optional[Path] = None, fixture_dtype: str = "fp32", rule: VerdictRule = DEFAULT_RULE,
            log=lambda s: print(s, file=sys.stderr), progress=lambda result: None) -> dict:
    """Honest outputs at temperature 1 (generated twice), verified in each of `honest_modes`; then,
    verified in `mode`, each kind of fake made from the first `fake_prompts` honest outputs; then
    outputs of the `fixture` model file. `progress(result)` gets the figures after every prompt."""
    prompts = PROMPTS[:n_prompts]
    rng = random.Random(13)
    rows: dict[str, list[dict]] = {}
    honest_gaps: dict[str, list[dict]] = {}
    timing: list[dict] = []
    raw: list[dict] = []      # every verification's mismatches [t, rank, logitGap, cdfGap], to re-judge offline
    identical = 0

    def record(kind: str, reply: dict, temperature: float) -> None:
        v = judge(reply, temperature, rule)
        rows.setdefault(kind, []).append({"matchShare": v.match_share, "near": v.near, "far": v.far,
                                          "positions": v.positions, "accepted": v.accepted, "reason": v.reason,
                                          "ms": reply["ms"]})
        raw.append({"kind": kind, "temperature": temperature, "positions": reply["positions"],
                    "problem": reply["problem"],
                    "mismatches": [[m["t"], m["rank"], m["logitGap"], m["cdfGap"]] for m in reply["mismatches"]]})

    def summary() -> dict:
        """The figures so far (called after every prompt, so an interrupted run still reports)."""
        done = len(timing)
        out: dict[str, Any] = {
            "setup": {"model": "SmolLM2-135M-Instruct", "dtype": dtype, "sha256": sha,
                      "backend": "wasm (Node, 1 thread)", "prompts": done, "maxTokens": max_tokens,
                      "fakesMode": mode, "rule": rule.__dict__},
            "honest_identical_share": identical / max(done, 1),
            "generate_ms": _summary([t["generateMs"] for t in timing]),
            "output_tokens": _summary([t["tokens"] for t in timing]),
            "prompt_tokens": _summary([t["promptTokens"] for t in timing]),
            "honest_mismatches": honest_gaps,
            "kinds": {},
            "raw": raw,
        }
        for m in honest_modes:
            out[f"verify_ms_{m}"] = _summary([t[f"verifyMs_{m}"] for t in timing])
            out[f"verify_over_generate_{m}"] = _summary([t[f"verifyMs_{m}"] / t["generateMs"] for t in timing])
        for kind, rs in rows.items():
            out["kinds"][kind] = {
                "outputs": len(rs),
                "rejected_share": sum(not r["accepted"] for r in rs) / len(rs),
                "match_share": _summary([r["matchShare"] for r in rs]),
                "far": _summary([r["far"] for r in rs]),
                "near": _summary([r["near"] for r in rs]),
                "reasons": sorted({r["reason"].split(" (")[0] for r in rs if r["reason"]})[:5],
            }
        return out

    sha = ""
    with NodeLLM(dist, models=models, dtype=dtype) as llm:
        sha, vocab, stops = llm.info["sha256"], llm.info["vocab"], llm.info["stopIds"]
        log(f"{dtype} model loaded in {llm.info['loadMs']:.0f} ms, sha256 {sha[:12]}")
        honest: list[dict] = []
        non_stop = [t for t in range(vocab) if t not in stops]
        for i, prompt in enumerate(prompts):
            rid = f"verify-bench-{i}"
            a = llm.generate(prompt, rid, sha, max_tokens, 1.0)
            b = llm.generate(prompt, rid, sha, max_tokens, 1.0)
            identical += a["tokenIds"] == b["tokenIds"]
            row = {"generateMs": min(a["ms"], b["ms"]), "tokens": len(a["tokenIds"])}
            for m in honest_modes:
                h = llm.verify(prompt, rid, sha, max_tokens, 1.0, a["tokenIds"], m)
                record(f"honest_t1_{m}", h, 1.0)
                honest_gaps.setdefault(m, []).extend(
                    {"cdfGap": x["cdfGap"], "logitGap": x["logitGap"], "rank": x["rank"], "t": x["t"]}
                    for x in h["mismatches"])
                row[f"verifyMs_{m}"] = h["ms"]
                row["promptTokens"] = h["promptTokens"]
            timing.append(row)
            honest.append({"prompt": prompt, "rid": rid, "ids": a["tokenIds"]})
            log(f"[{i}] {len(a['tokenIds'])} tokens, identical={a['tokenIds'] == b['tokenIds']}, "
                f"gen {row['generateMs']:.0f} ms, " + ", ".join(
                    f"{m} {row[f'verifyMs_{m}']:.0f} ms" for m in honest_modes))
            progress(summary())

        for i, hon in enumerate(honest[:fake_prompts]):
            prompt, rid, ids = hon["prompt"], hon["rid"], hon["ids"]
            n = len(ids)
            ends_with_stop = ids[-1] in stops

            def fake(kind: str, claimed: list[int], temperature: float = 1.0) -> None:
                record(kind, llm.verify(prompt, rid, sha, max_tokens, temperature, claimed, mode), temperature)

            garbage = [rng.choice(non_stop) for _ in range(n)]
            if ends_with_stop:
                garbage[-1] = ids[-1]
            fake("garbage", garbage)
            edited = list(ids)
            at = (n - 1) // 2 if ends_with_stop else n // 2
            edited[at] = rng.choice([t for t in non_stop[:2000] if t != ids[at]])
            fake("edited_one_token", edited)
            if n >= 4:
                fake("truncated", ids[: n // 2])
                fake("truncated_plus_stop", ids[: n // 2] + [stops[0]])
            fake("other_prompt_output", honest[(i + 1) % len(honest)]["ids"])
            greedy = llm.generate(prompt, rid, sha, max_tokens, 0.0)
            fake("greedy_instead_of_seeded", greedy["tokenIds"])
            record(f"honest_t0_{mode}", llm.verify(prompt, rid, sha, max_tokens, 0.0, greedy["tokenIds"], mode), 0.0)
            fake("other_seed", llm.generate(prompt, rid + "-other", sha, max_tokens, 1.0)["tokenIds"])
            log(f"[{i}] fakes verified")
            progress(summary())

        if fixture is not None:
            outputs: list[list[int]] = []
            with NodeLLM(dist, models=fixture, dtype=fixture_dtype) as other_model:
                log(f"fixture {fixture_dtype} loaded, sha256 {other_model.info['sha256'][:12]}")
                for hon in honest[:fake_prompts]:
                    # seeded as if by the pinned file: the only difference is the weights
                    outputs.append(other_model.generate(hon["prompt"], hon["rid"], sha, max_tokens, 1.0)["tokenIds"])
            for hon, ids in zip(honest, outputs):
                record(f"other_model_file_{fixture_dtype}",
                       llm.verify(hon["prompt"], hon["rid"], sha, max_tokens, 1.0, ids, mode), 1.0)
                progress(summary())

    return summary()


def rejudge(result: dict, rule: VerdictRule = DEFAULT_RULE) -> dict:
    """Per kind: outputs, rejected share and reasons under `rule`, from a result's raw mismatches
    (to calibrate the rule without re-running the model)."""
    kinds: dict[str, dict] = {}
    for r in result["raw"]:
        scores = [PositionScore(-1, -2, rank, float("inf") if gap is None else gap, cdf)
                  for _t, rank, gap, cdf in r["mismatches"]]
        v = judge_output(scores, r["positions"], r["temperature"], r["problem"], rule)
        k = kinds.setdefault(r["kind"], {"outputs": 0, "rejected": 0, "near_max": 0, "far_min": None})
        k["outputs"] += 1
        k["rejected"] += not v.accepted
        k["near_max"] = max(k["near_max"], v.near)
        k["far_min"] = v.far if k["far_min"] is None else min(k["far_min"], v.far)
    for k in kinds.values():
        k["rejected_share"] = k["rejected"] / k["outputs"]
    return kinds


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dist", type=Path, default=ROOT / "dist")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--models", type=Path, default=None, help="models directory (default DIST/models)")
    ap.add_argument("--dtype", default="q8", help="q8 (onnx/model_quantized.onnx), fp32 (onnx/model.onnx), q4")
    ap.add_argument("--mode", default="prefill", choices=("prefill", "replay"), help="how fakes are verified")
    ap.add_argument("--honest-modes", default="prefill", help="comma-separated: prefill,replay")
    ap.add_argument("--fake-prompts", type=int, default=10, help="fakes are made from the first N honest outputs")
    ap.add_argument("--fixture", type=Path, default=None)
    ap.add_argument("--fixture-dtype", default="fp32")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--rejudge", type=Path, default=None, metavar="RESULT_JSON",
                    help="print the verdicts of a saved result under the current rule, run nothing")
    args = ap.parse_args(argv)
    if args.rejudge:
        print(json.dumps(rejudge(json.loads(args.rejudge.read_text())), indent=1))
        return 0
    started = time.time()
    result = measure(args.dist.resolve(), args.prompts, args.tokens, models=args.models, dtype=args.dtype,
                     mode=args.mode, honest_modes=tuple(args.honest_modes.split(",")), fake_prompts=args.fake_prompts,
                     fixture=args.fixture, fixture_dtype=args.fixture_dtype,
                     progress=lambda r: args.out.write_text(json.dumps(r, indent=1) + "\n") if args.out else None)
    result["wall_s"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
