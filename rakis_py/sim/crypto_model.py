"""Signing for the simulator: real Ed25519 (``--crypto ed25519``) or a DECLARED STAND-IN
(``--crypto standin``, the default) that costs one SHA-512 instead of an Ed25519 sign/verify.

The stand-in keeps the wire shapes: ``synthientId`` is 64 lowercase hex characters and the
signature 128, ``signature = sha512(synthientId || json(packet)).hex()``, verified by
recomputation. It is not a signature scheme (anyone can compute it); in the simulator nobody
forges, and the protocol core only needs ``identity.sign_packet`` and a ``verify`` callable.

``CachedVerifier`` wraps either verifier: receivers of one broadcast share the same packet dict
object, so the result for ``(id(packet), signature)`` is computed once per envelope, not once per
receiver.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def canonical(obj) -> str:
    """Exactly what JavaScript's ``JSON.stringify`` gives (the core's ``js_stringify``): used for
    packet sizes on the wire."""
    from rakis_py.protocol.canonical import js_stringify
    return js_stringify(obj)


def fast_text(obj) -> str:
    """A deterministic JSON text for the stand-in signature (C-accelerated ``json``; it may differ
    from ``js_stringify`` in number formatting, e.g. ``1.0`` vs ``1``, which does not matter for
    a stand-in that only has to agree with itself)."""
    try:
        return _dumps(obj)
    except (TypeError, ValueError):
        return canonical(obj)


class StandinSigner:
    """Stand-in identity with the `Signer` shape the core takes (``synthient_id``, ``sign_packet``)."""

    def __init__(self, seed: bytes) -> None:
        self.synthient_id = hashlib.sha256(b"standin-key" + seed).hexdigest()

    def sign_packet(self, packet: dict) -> str:
        return hashlib.sha512((self.synthient_id + fast_text(packet)).encode()).hexdigest()

    def envelope(self, packet: dict) -> dict:
        return {"synthientId": self.synthient_id, "signature": self.sign_packet(packet), "packet": packet}


def standin_verify(synthient_id: str, signature: str, packet: dict) -> bool:
    try:
        want = hashlib.sha512((synthient_id + fast_text(packet)).encode()).hexdigest()
    except (TypeError, ValueError):
        return False
    return want == signature


class CachedVerifier:
    """Memoises verification per (packet object, signature) while the packet object lives."""

    def __init__(self, verify: Callable[[str, str, dict], bool], cap: int = 200_000) -> None:
        self.verify = verify
        self.cap = cap
        self.cache: dict[tuple[str, str], tuple[object, bool]] = {}
        self.calls = 0
        self.misses = 0

    def __call__(self, synthient_id: str, signature: str, packet: dict) -> bool:
        self.calls += 1
        key = (synthient_id, signature)
        hit = self.cache.get(key)
        if hit is not None and hit[0] is packet:
            return hit[1]
        self.misses += 1
        ok = self.verify(synthient_id, signature, packet)
        if len(self.cache) >= self.cap:
            self.cache.clear()
        self.cache[key] = (packet, ok)
        return ok


def make_signer(kind: str, seed: bytes):
    """``standin`` or ``ed25519`` (the core's Identity with the cryptography provider)."""
    if kind == "standin":
        return StandinSigner(seed)
    if kind == "ed25519":
        from rakis_py.protocol.identity import Identity
        return Identity.from_private_key(hashlib.sha256(b"sim-ed25519" + seed).digest())
    raise ValueError(f"unknown crypto {kind!r}")


def make_verifier(kind: str) -> Callable[[str, str, dict], bool]:
    if kind == "standin":
        return CachedVerifier(standin_verify)
    if kind == "ed25519":
        from rakis_py.protocol.identity import verify_packet
        return CachedVerifier(verify_packet)
    raise ValueError(f"unknown crypto {kind!r}")
