"""Seeded sampling (rakis_py/protocol/sampling.py, the reference) against its known-answer table
tests/cases/sampling_kat.json, and workers/sampler.js (run in Node) against the same table and
against Python on random cases, bit for bit.

Regenerate the table (only when the specification changes, with a new DOMAIN):
    .venv/bin/python -m tests.unit.test_sampling
"""

from __future__ import annotations

import json
import math
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rakis_py.protocol import sampling as sp

TABLE = Path(__file__).parents[1] / "cases" / "sampling_kat.json"
DRIVER = Path(__file__).parent / "js" / "sampling_kat.mjs"
NODE = shutil.which("node")
H1 = "a52e14e3e4b49f797c6d20ce5d3b9ef325b388c028128e9abb7bac7d94a0dd1d"
H2 = "0" * 63 + "1"
SPECIAL = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def from_bits(h: str) -> float:
    return struct.unpack(">d", bytes.fromhex(h))[0]


def logits_of(case: dict) -> np.ndarray:
    if "logitsF32" in case:
        return np.frombuffer(bytes.fromhex(case["logitsF32"]), dtype="<f4").astype(np.float32)
    return np.array([SPECIAL[x] if isinstance(x, str) else x for x in case["logits"]], dtype=np.float32)


def params_of(case: dict) -> sp.SamplingParams:
    return sp.SamplingParams(case["temperature"], case["topK"], case["topP"])


def compute(cases: dict) -> dict:
    """What the reference computes for `cases` (same shape as the JS driver's output)."""
    out: dict = {"uniforms": [], "exp": [], "sample": [], "structure": []}
    for c in cases.get("uniforms", []):
        out["uniforms"].append({"message": sp.uniform_message(c["requestId"], c["modelSha256"], c["position"]).hex(),
                                "u": bits(sp.uniform(c["requestId"], c["modelSha256"], c["position"]))})
    xs = np.array([from_bits(c["xBits"]) for c in cases.get("exp", [])], dtype=np.float64)
    out["exp"] = [bits(float(v)) for v in sp.det_exp(xs)]
    for c in cases.get("sample", []):
        logits, params = logits_of(c), params_of(c)
        scores = []
        for claimed in c.get("claimed", []):
            s = sp.score_position(logits, params, c["u"], claimed)
            scores.append({"choice": s.choice, "rank": s.rank, "logitGap": bits(s.logit_gap),
                           "cdfGap": None if s.cdf_gap is None else bits(s.cdf_gap)})
        out["sample"].append({"choice": sp.sample_token(logits, params, c["u"]), "scores": scores})
    for c in cases.get("structure", []):
        out["structure"].append(sp.structure_problem(c["tokenIds"], c["maxTokens"], c["stopIds"], c["vocabSize"]))
    return out


def run_js(cases: dict, tmp_path: Path) -> dict:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    done = subprocess.run([NODE, str(DRIVER), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def f32(x: float) -> float:
    return float(np.float32(x))


def sample_case(logits, temperature, u, top_k=0, top_p=1.0, claimed=(), f32hex=False) -> dict:
    case: dict = {"temperature": temperature, "topK": top_k, "topP": top_p, "u": u, "claimed": list(claimed)}
    if f32hex:
        case["logitsF32"] = np.asarray(logits, dtype="<f4").tobytes().hex()
    else:
        case["logits"] = [x if isinstance(x, str) else f32(x) for x in logits]
    return case


def build_inputs() -> dict:
    """The table's inputs: hand-picked edges, then seeded random cases (fixed forever once written)."""
    rng = random.Random(13)
    nrng = np.random.default_rng(13)
    uniforms = [{"requestId": rid, "modelSha256": h, "position": pos}
                for rid, h, pos in [("r1", H1, 0), ("r1", H1, 1), ("r1", H1, 47), ("r1", H2, 0), ("", H1, 0),
                                    ("запрос-😀", H1, 3), ("x" * 300, H2, 2**32 - 1),
                                    ("cq2YxrZk3mN7pQ", H1, 127)]]
    xs = [0.0, -0.0, -5e-324, -1e-300, -1e-17, -0.5, -0.34657359027997264, -0.34657359027997275, -1.0,
          -2.0, -10.0, -100.0, -700.0, -707.9999999, -708.0, -708.0000000001, -745.0, -1e300, -math.inf,
          math.nan] + [-rng.expovariate(1 / 30) for _ in range(60)] + [-rng.random() for _ in range(20)]
    exp = [{"xBits": bits(x)} for x in xs]
    big = nrng.normal(0, 3, 2000).astype(np.float32)
    sample = [
        sample_case([1, 3, 3, 2], 0, 0.9, claimed=[1, 2, 0]),                      # greedy: ties to lowest id
        sample_case(["nan", "-inf", 0.5, 0.5, "inf"], 0, 0.1, claimed=[0, 2, 3, 4]),
        sample_case(["nan", "-inf", 0.5, 0.5, "inf"], 1.0, 0.75, claimed=[0, 2, 3, 4]),
        sample_case([0, 0, 0, 0], 1.0, 0.0, claimed=[0, 1]),                      # u = 0: first id
        sample_case([0, 0, 0, 0], 1.0, 0.5, claimed=[1, 2, 3]),                   # on a boundary: the upper id
        sample_case([0, 0, 0, 0], 1.0, 1 - 2**-53, claimed=[3, 0]),
        sample_case([0, 0], 1.0, 0.5, claimed=[0, 1]),
        sample_case([2.5, -1, 0.25, 3.75, 3.75], 0.7, 0.3, claimed=[3, 4, 1]),
        sample_case([2.5, -1, 0.25, 3.75, 3.75], 0.7, 0.61, claimed=[3, 4, 0]),
        sample_case([1, 2, 2, 2, 0], 1.0, 0.99, top_k=2, claimed=[1, 2, 3]),      # top-k tie: lower ids kept
        sample_case([1, 2, 2, 2, 0], 1.0, 0.2, top_k=9, claimed=[0, 4]),
        sample_case([4, 1, 3, 2, 0], 1.0, 0.95, top_p=0.5, claimed=[0, 2, 3]),
        sample_case([4, 1, 3, 2, 0], 1.0, 0.95, top_p=0.9, claimed=[0, 2, 3, 4]),
        sample_case([4, 1, 3, 2, 0], 0.5, 0.95, top_k=2, top_p=0.99, claimed=[0, 2, 3]),
        sample_case([0.1, 0.2, 0.3], 1e-300, 0.4, claimed=[2, 1]),                # tiny T: near greedy
        sample_case([0.1, 0.2, 0.3], 1e6, 0.4, claimed=[0, 1, 2]),                # huge T: near uniform
        sample_case([0.0, -800.0, 0.0], 1.0, 0.49, claimed=[1, 0, 2]),            # weight 0 for e**-800
        sample_case(big, 1.0, 0.123456789, claimed=[int(np.argmax(big)), 5, 1999], f32hex=True),
        sample_case(big, 0.8, 0.987654321, top_k=50, claimed=[int(np.argmax(big)), 17], f32hex=True),
        sample_case(big, 1.3, 0.5, top_p=0.9, claimed=[0, 1, 2], f32hex=True),
        sample_case(big, 0, 0.5, claimed=[0, int(np.argmax(big))], f32hex=True),
    ]
    for _ in range(12):
        n = rng.choice([3, 10, 100, 1000])
        lg = (nrng.normal(0, rng.choice([0.5, 2, 8]), n)).astype(np.float32)
        if rng.random() < 0.3:
            lg[nrng.integers(0, n, 3)] = np.float32(lg.max())                     # ties at the top
        sample.append(sample_case(lg, rng.choice([0, 0.3, 0.7, 1.0, 1.5]), rng.random(),
                                  top_k=rng.choice([0, 0, 1, 5, 40]), top_p=rng.choice([1.0, 1.0, 0.5, 0.95]),
                                  claimed=[rng.randrange(n) for _ in range(3)], f32hex=n > 10))
    structure = [{"tokenIds": ids, "maxTokens": mx, "stopIds": [2], "vocabSize": 100}
                 for ids, mx in [([5, 6, 2], 8), ([5, 6, 7], 3), ([5, 6], 3), ([], 3), ([5, 2, 6], 3),
                                 ([5, 6, 7, 8], 3), ([5, 100, 2], 3), ([2], 1), ([5], 1)]]
    return {"uniforms": uniforms, "exp": exp, "sample": sample, "structure": structure}


def write_table() -> None:
    inputs = build_inputs()
    table = {"about": "Known answers of the seeded sampler (docs/verifiable-inference.md). Inputs and the "
                      "expected outputs of rakis_py/protocol/sampling.py; workers/sampler.js must give the "
                      "same bits. Floats are the hex of their 8 big-endian float64 bytes; logits are "
                      "float32 (listed, or little-endian hex in logitsF32).",
             "inputs": inputs, "expected": compute(inputs)}
    TABLE.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")


def load_table() -> dict:
    return json.loads(TABLE.read_text())


def test_python_reproduces_the_table():
    table = load_table()
    assert compute(table["inputs"]) == table["expected"]


@pytest.mark.skipif(NODE is None, reason="node (Node.js 20+) not installed")
def test_js_reproduces_the_table(tmp_path):
    table = load_table()
    got = run_js(table["inputs"], tmp_path)
    for key in ("uniforms", "exp", "sample", "structure"):
        assert got[key] == table["expected"][key], key


@pytest.mark.skipif(NODE is None, reason="node (Node.js 20+) not installed")
def test_js_equals_python_on_random_cases(tmp_path):
    rng = random.Random(2026)
    nrng = np.random.default_rng(2026)
    xs = np.concatenate([-nrng.exponential(25, 20000), -nrng.random(5000) * 1e-3, -nrng.random(2000) * 760])
    cases: dict = {"exp": [{"xBits": bits(float(x))} for x in xs], "sample": [],
                   "uniforms": [{"requestId": f"req-{i}", "modelSha256": H1, "position": i} for i in range(50)]}
    for _ in range(40):
        n = rng.choice([2, 50, 3000])
        lg = nrng.normal(0, rng.choice([1, 4]), n).astype(np.float32)
        cases["sample"].append(sample_case(lg, rng.choice([0, 0.5, 1.0, 2.0]), rng.random(),
                                           top_k=rng.choice([0, 0, 3, 100]), top_p=rng.choice([1.0, 0.8]),
                                           claimed=[rng.randrange(n) for _ in range(4)], f32hex=True))
    vocab = nrng.normal(0, 3, 49152).astype(np.float32)         # SmolLM2's vocabulary size
    cases["sample"].append(sample_case(vocab, 1.0, 0.3, claimed=[0, int(np.argmax(vocab))], f32hex=True))
    assert run_js(cases, tmp_path) == compute(cases)


def test_det_exp_is_exp_to_a_few_ulp():
    x = -np.random.default_rng(1).exponential(20, 100000)
    x = x[x >= sp.EXP_MIN]
    assert np.max(np.abs(sp.det_exp(x) - np.exp(x)) / np.exp(x)) < 4.5e-16
    assert sp.det_exp(np.array([0.0, -0.0]))[0] == 1.0
    assert list(sp.det_exp(np.array([-708.0001, -np.inf, np.nan]))) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        sp.det_exp(np.array([1e-9]))


def test_the_constants_are_the_specified_bits():
    assert [bits(v) for v in (sp.INV_LN2, sp.LN2_HI, sp.LN2_LO)] == [
        "3ff71547652b82fe", "3fe62e42fee00000", "3dea39ef35793c76"]


def test_uniform_is_sha256_of_the_specified_message():
    import hashlib
    msg = sp.uniform_message("r1", H1, 5)
    assert msg == b"rakis-seeded-sampling-v1" + b"\0\0\0\x02r1" + b"\0\0\0\x40" + H1.encode() + b"\0\0\0\x05"
    assert sp.uniform("r1", H1, 5) == (int.from_bytes(hashlib.sha256(msg).digest()[:8], "big") >> 11) / 2**53
    with pytest.raises(ValueError):
        sp.uniform_message("r1", H1.upper(), 0)


def test_sampling_follows_the_distribution():
    """Over many seeds, the draw's frequencies are the softmax probabilities (sanity, not exactness)."""
    logits = np.array([1.0, 0.0, 2.0, -1.0], dtype=np.float32)
    p = np.exp(logits / 0.8) / np.exp(logits / 0.8).sum()
    us = sp.uniforms("freq", H1, 4000)
    counts = np.bincount([sp.sample_token(logits, sp.SamplingParams(0.8), u) for u in us], minlength=4)
    assert np.all(np.abs(counts / 4000 - p) < 0.03)


def test_params_refuse_bad_values():
    for bad in (dict(temperature=-1), dict(temperature=math.nan), dict(temperature=1, top_k=-1),
                dict(temperature=1, top_p=0), dict(temperature=1, top_p=1.5), dict(temperature=1, top_k=1.5)):
        with pytest.raises(ValueError):
            sp.SamplingParams(**bad)


def test_the_verdict_rule():
    near = sp.PositionScore(choice=5, claimed=6, rank=2, logit_gap=0.1, cdf_gap=6e-7)
    far = sp.PositionScore(choice=5, claimed=9, rank=40, logit_gap=6.0, cdf_gap=0.4)
    assert sp.judge_output([], 48, 1.0).accepted
    assert sp.judge_output([near], 48, 1.0).accepted
    assert sp.judge_output([near] * 3, 48, 1.0).accepted                     # near_min 3 (5% of 48 = 2)
    v = sp.judge_output([near] * 4, 48, 1.0)
    assert not v.accepted and v.near == 4 and "near" in v.reason
    assert sp.judge_output([near] * 6, 128, 1.0).accepted                     # 5% of 128 = 6
    v = sp.judge_output([far], 48, 1.0)
    assert not v.accepted and v.far == 1 and v.matches == 47
    assert sp.judge_output([], 10, 1.0, problem="truncated").reason == "truncated"
    assert sp.judge_output([far], 48, 0).accepted is False                   # greedy: logit gap 6 is far
    assert sp.judge_output([near], 48, 0).accepted                           # logit gap 0.1 <= 0.25
    assert sp.judge_output([sp.PositionScore(5, 6, 2, 0.1, 0.002)], 48, 1.0).far == 1   # gap > near_cdf


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE}", file=sys.stderr)
