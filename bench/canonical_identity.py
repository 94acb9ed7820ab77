"""Timing of js_stringify / sign / verify on a v1 inferenceReveal. Run: PYTHONPATH=. .venv/bin/python bench/canonical_identity.py"""
import random, timeit, statistics
from rakis_py.protocol.canonical import js_stringify, float32_array_object
from rakis_py.protocol.identity import Identity, verify_packet
rng = random.Random(1)
ident = Identity.generate(rng.randbytes(32))
reveal = {"createdAt": "2024-07-25T21:17:41.123+08:00", "type": "inferenceReveal",
  "requestedSynthientId": "ab"*32, "requestId": "abcdefghij", "inferenceId": "abcdefghij.qwerty",
  "output": "".join(rng.choice("abcdefgh ijk.,\n") for _ in range(500)),
  "embedding": float32_array_object(rng.gauss(0, 0.05) for _ in range(768)),
  "bEmbedding": rng.randbytes(96)}
small = {"type": "inferenceCommit", "bEmbeddingHash": "ab"*32, "requestId": "abcdefghij", "inferenceId": "abcdefghij.qwerty", "createdAt": "2024-07-25T21:17:41.123+08:00"}
def m(f, n=100, r=30): return statistics.median(timeit.repeat(f, number=n, repeat=r))/n*1000
sig = ident.sign_packet(reveal); ssig = ident.sign_packet(small)
print(f"js_stringify(reveal) {m(lambda: js_stringify(reveal)):.3f} ms, {len(js_stringify(reveal))} chars")
print(f"sign_packet(reveal) {m(lambda: ident.sign_packet(reveal)):.3f} ms")
print(f"verify_packet(reveal) {m(lambda: verify_packet(ident.synthient_id, sig, reveal)):.3f} ms")
print(f"sign_packet(commit) {m(lambda: ident.sign_packet(small)):.3f} ms")
print(f"verify_packet(commit) {m(lambda: verify_packet(ident.synthient_id, ssig, small)):.3f} ms")
