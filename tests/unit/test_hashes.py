"""Commit hash, joint hash and winner index: known answers, and JS semantics checked against node."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess

import pytest

from rakis_py.protocol.consensus import (
    CommitEntry,
    binary_embedding_hash,
    joint_hash,
    v1_winner_index,
    v2_winner_index,
)

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node not on PATH")


def run_node(script: str, data) -> object:
    """Run a JS snippet that reads JSON `data` from stdin and prints JSON."""
    proc = subprocess.run(
        [NODE, "-e", script], input=json.dumps(data), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ---- binary_embedding_hash -------------------------------------------------------------------

def test_binary_embedding_hash_known_answer():
    emb = bytes((i * 37 + 11) % 256 for i in range(96))  # 96 bytes like nomic's packed bits
    sid = "ab" * 32
    expected = hashlib.sha256(emb + sid.encode("ascii")).hexdigest()
    got = binary_embedding_hash(emb, sid)
    assert got == expected
    assert len(got) == 64 and got == got.lower()


def test_binary_embedding_hash_binds_bits_and_committer():
    emb = bytes(48)
    base = binary_embedding_hash(emb, "00" * 32)
    assert binary_embedding_hash(bytes([1]) + bytes(47), "00" * 32) != base
    assert binary_embedding_hash(emb, "01" + "00" * 31) != base
    # Any byte sequence type is taken as its bytes.
    assert binary_embedding_hash(bytearray(emb), "00" * 32) == base


def test_binary_embedding_hash_utf8_addition():
    # The addition is UTF-8 encoded (not latin-1): a non-ASCII id changes the digest accordingly.
    sid = "é"
    assert binary_embedding_hash(b"\x01", sid) == hashlib.sha256(b"\x01\xc3\xa9").hexdigest()


@needs_node
def test_binary_embedding_hash_matches_js_webcrypto_construction():
    # Same construction as v1's hashBinaryEmbedding: Uint8Array(bits) ++ TextEncoder(id), SHA-256.
    rng = random.Random(7)
    cases = [[rng.randrange(256) for _ in range(96)] for _ in range(5)]
    sid = "".join(rng.choice("0123456789abcdef") for _ in range(64))
    js = """
const {createHash} = require('crypto');
const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = d.cases.map(c => {
  const a = Uint8Array.from(c), b = new TextEncoder().encode(d.sid);
  const m = new Uint8Array(a.length + b.length); m.set(a); m.set(b, a.length);
  return createHash('sha256').update(m).digest('hex');
});
console.log(JSON.stringify(out));
"""
    expected = run_node(js, {"cases": cases, "sid": sid})
    assert [binary_embedding_hash(bytes(c), sid) for c in cases] == expected


# ---- joint_hash ------------------------------------------------------------------------------

def test_joint_hash_known_answer():
    accepted = [
        CommitEntry("req.aaaaaa", "11" * 32, "h1" * 32),
        CommitEntry("req.bbbbbb", "22" * 32, "h2" * 32),
    ]
    text = "req" + "h1" * 32 + "req.aaaaaa" + "h2" * 32 + "req.bbbbbb"
    assert joint_hash("req", accepted) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_joint_hash_accepts_pairs_and_is_order_sensitive():
    entries = [CommitEntry(f"r.{i}", "s", f"{i:064x}") for i in range(4)]
    pairs = [(c.b_embedding_hash, c.inference_id) for c in entries]
    assert joint_hash("r", entries) == joint_hash("r", pairs)
    assert joint_hash("r", entries) != joint_hash("r", entries[::-1])
    assert joint_hash("r", []) == hashlib.sha256(b"r").hexdigest()
    # utf-8 of the request id
    assert joint_hash("ü", []) == hashlib.sha256("ü".encode("utf-8")).hexdigest()


# ---- winner index ----------------------------------------------------------------------------

def _winner_cases(count: int = 200) -> list[tuple[str, int]]:
    rng = random.Random(2024)
    edge_prefixes = [
        "ffffffffffffffff", "0000000000000000", "001fffffffffffff", "0020000000000001",
        "8000000000000400", "8000000000000c00", "fffffffffffffc00", "fffffffffffffbff",
        "7fffffffffffffff", "0000000000000001",
    ]
    cases = [("ffffffffffffffff" + "0" * 48, 3)]
    for p in edge_prefixes:
        for n in (1, 2, 3, 7, 10, 256, 300):
            cases.append((p + "".join(rng.choice("0123456789abcdef") for _ in range(48)), n))
    while len(cases) < count:
        h = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        n = rng.choice([rng.randint(1, 20), rng.randint(1, 1000), rng.randint(1, 2**31)])
        cases.append((h, n))
    return cases


@needs_node
def test_v1_winner_index_matches_node():
    cases = _winner_cases()
    js = """
const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(d.map(([h, n]) => parseInt(h.slice(0, 16), 16) % n)));
"""
    expected = run_node(js, cases)
    got = [v1_winner_index(h, n) for h, n in cases]
    assert got == expected
    # The documented example, and proof that the cases exercise the double rounding.
    assert v1_winner_index("ffffffffffffffff" + "0" * 48, 3) == 1
    assert any(g != int(h[:16], 16) % n for g, (h, n) in zip(got, cases))


def test_v1_winner_index_without_node():
    assert v1_winner_index("ffffffffffffffff" + "0" * 48, 3) == 1  # 2**64 as a double, mod 3
    assert v1_winner_index("0000000000000007" + "f" * 48, 5) == 2  # small values are exact
    with pytest.raises(ValueError):
        v1_winner_index("00" * 32, 0)


def test_v2_winner_index_is_exact_integer_modulo():
    for h, n in _winner_cases(300):
        assert v2_winner_index(h, n) == int(h[:16], 16) % n
        assert 0 <= v2_winner_index(h, n) < n
    assert v2_winner_index("ffffffffffffffff" + "0" * 48, 3) == 0  # 2**64 - 1 = 3 * 6148914691236517205
    with pytest.raises(ValueError):
        v2_winner_index("00" * 32, 0)
