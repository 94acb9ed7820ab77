"""DECLARED STAND-INS for the LLM and the embedding model. They are models of model behaviour,
not models: the simulator studies the protocol, so all it needs is outputs whose embeddings
cluster, drift and fail the way real ones do.

The embedding stand-in has the size of the model each protocol runs, so packet sizes (and
``bytes_per_token``) are honest per protocol:

* v2 rules (rakis-py's all-MiniLM-L6-v2): binary embeddings of ``EMBEDDING_BITS`` = 384 bits
  (48 bytes); no float vector (v2 reveals carry none);
* v1 rules (v1's nomic-embed-text-v1.5): binary embeddings of ``EMBEDDING_BITS_V1`` = 768 bits
  (96 bytes) and, for the reveal, a float vector of 768 dimensions whose signs are those bits
  (``float_embedding``; magnitudes of a unit-norm 768-d vector, ~N(0, 1/sqrt(768)), from a fixed
  table: only the shape and size on the wire matter). A v1 reveal built from them has the size
  of a real one (tests/sim/test_sim_core.py checks it against ``packets.encode_envelope``).

Per request (keyed by the prompt's ``[sim-prompt ...]`` tag) there are a few "true answer"
clusters; each has a random centre of that many bits. One inference:

* draws a cluster (the first has weight ``main_share``, the rest share the remainder), or with
  probability ``garbage_share`` (always, on a Byzantine node) a garbage output far from every
  cluster;
* returns a text unique to this node and run, ``tokens * chars_per_token`` characters long, whose
  header names the request, the cluster and a nonce: the embedding stand-in reads it back;
* takes ``tokens / tokens_per_s`` seconds (the node's speed, nodes.py) of virtual time.

The embedding of a text is deterministic in its *content*: the cluster centre with
``spread_bits`` bit flips picked by a hash of the text (different texts of one cluster are close,
not equal). Each *run* of the embedding model adds non-determinism: with probability
``nondeterministic_share`` it flips 1..``nondeterministic_max_bits`` random bits. That is what
broke v1's exact-match verification (the committer and the verifier embed the same text and get
bits that differ by a few flips).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

EMBEDDING_BITS = 384                       # v2: all-MiniLM-L6-v2, 384-d -> 48 bytes
EMBEDDING_BYTES = EMBEDDING_BITS // 8
EMBEDDING_BITS_V1 = 768                    # v1: nomic-embed-text-v1.5, 768-d -> 96 bytes
EMBEDDING_BYTES_V1 = EMBEDDING_BITS_V1 // 8
# |component| of a unit-norm 768-d vector (sd 1/sqrt(768) ~ 0.036), floored away from 0.
_MAG_RNG = random.Random("float-embedding")
_MAGNITUDES = tuple(max(1e-4, abs(_MAG_RNG.gauss(0.0, 768 ** -0.5))) for _ in range(4096))


def embedding_bits(protocol: int) -> int:
    """Binary embedding size (bits) of the model a protocol's network runs."""
    return EMBEDDING_BITS_V1 if protocol == 1 else EMBEDDING_BITS
_FILLER = ("the answer depends on the context of the question and on what one assumes about it "
           * 64)


@dataclass(frozen=True)
class StandinParams:
    max_clusters: int = 3
    main_share: float = 0.85             # weight of the main cluster
    garbage_share: float = 0.02          # honest but broken outputs (far from any cluster)
    spread_bits: int = 12                # text-to-centre distance inside a cluster
    nondeterministic_share: float = 0.15 # embedding runs that flip some bits
    nondeterministic_max_bits: int = 4
    chars_per_token: int = 4
    token_sigma: float = 0.3             # run-to-run variation of the output length
    embed_ms_per_text: int = 60          # virtual time of one embedding (rakis-py's model)
    # The v1 network's embedding model when a run uses v1 rules (nomic-embed-text-v1.5, fp32,
    # 768-d: ~6x the parameters of all-MiniLM-L6-v2). None = the same cost as embed_ms_per_text.
    embed_ms_per_text_v1: int | None = None
    byzantine_mode: str = "garbage"      # "garbage" (random) | "collude" (one shared fake cluster)


def _tag(text: str) -> str:
    end = text.find("]")
    return text[1:end] if text.startswith("[") and end > 0 else ""


def _bits_of(seed: str, nbits: int = EMBEDDING_BITS) -> int:
    if nbits == 384:
        return int.from_bytes(hashlib.sha384(seed.encode()).digest(), "big")
    return int.from_bytes(hashlib.shake_256(seed.encode()).digest(nbits // 8), "big")


def _flip(value: int, rng: random.Random, k: int, nbits: int = EMBEDDING_BITS) -> int:
    for pos in rng.sample(range(nbits), k):
        value ^= 1 << pos
    return value


class ModelStandins:
    def __init__(self, params: StandinParams, protocol: int = 2) -> None:
        self.p = params
        self.protocol = protocol
        self.bits = embedding_bits(protocol)
        self.nbytes = self.bits // 8

    # -- LLM stand-in -------------------------------------------------------------------------
    def infer(self, prompt: str, node_index: int, byzantine: bool, base_tokens: int,
              max_tokens: int, rng: random.Random) -> tuple[str, int]:
        """One inference: (output text, token count)."""
        p = self.p
        key = _tag(prompt).removeprefix("sim-prompt ").replace(" ", "_") \
            or hashlib.sha256(prompt.encode()).hexdigest()[:16]
        tokens = max(1, min(max_tokens, int(base_tokens * rng.lognormvariate(0.0, p.token_sigma))))
        nonce = f"n{node_index}.{rng.getrandbits(40):010x}"
        if byzantine and p.byzantine_mode == "collude":
            label = "x"
        elif byzantine or rng.random() < p.garbage_share:
            label = "g"
        else:
            krng = random.Random(key)
            n = krng.randint(1, max(1, p.max_clusters))
            weights = [p.main_share] + [(1 - p.main_share) / (n - 1)] * (n - 1) if n > 1 else [1.0]
            label = f"c{rng.choices(range(n), weights)[0]}"
        head = f"[out {key} {label} {nonce}] "
        body_len = max(0, tokens * p.chars_per_token - len(head))
        reps = body_len // len(_FILLER) + 1
        return head + (_FILLER * reps)[:body_len], tokens

    # -- embedding stand-in ------------------------------------------------------------------
    def true_bits(self, text: str) -> int:
        """The embedding this text would get from a perfectly deterministic model."""
        parts = _tag(text).split(" ")
        if len(parts) == 4 and parts[0] == "out" and parts[2] not in ("g",):
            key, label = parts[1], parts[2]
            centre = _bits_of(f"centre {key} {label}", self.bits)
            return _flip(centre, random.Random(text), self.p.spread_bits, self.bits)
        return _bits_of("garbage " + text, self.bits)

    def embed(self, text: str, rng: random.Random) -> bytes:
        """One run of the embedding model on ``text`` (may flip a few bits: non-determinism)."""
        bits = self.true_bits(text)
        p = self.p
        if p.nondeterministic_share > 0 and rng.random() < p.nondeterministic_share:
            bits = _flip(bits, rng, rng.randint(1, p.nondeterministic_max_bits), self.bits)
        return bits.to_bytes(self.nbytes, "big")

    def float_embedding(self, bembedding: bytes) -> tuple[float, ...]:
        """A float vector whose signs are the given bits, one dimension per bit (what a v1 reveal
        carries besides the bits: 768 floats for 96 bytes). Magnitudes come from a fixed table:
        only the shape and size on the wire matter here."""
        bits = int.from_bytes(bembedding, "big")
        mags = _MAGNITUDES
        n = len(bembedding) * 8
        return tuple(mags[k] if (bits >> (n - 1 - k)) & 1 else -mags[k] for k in range(n))

    @staticmethod
    def cluster_label(text: str) -> str:
        """The cluster a stand-in output belongs to ("g" for garbage), for metrics."""
        parts = _tag(text).split(" ")
        return parts[2] if len(parts) == 4 else "?"
