"""A node's Ed25519 identity and v1 packet signatures (v1 spec §2.1-§2.2, §3).

synthientId = lowercase hex of the 32-byte public key; signature = lowercase hex of Ed25519 over
the UTF-8 of `js_stringify(packet)` (the inner packet only; the envelope is not signed).

`verify_packet` accepts only lowercase hex, which is all v1 (noble's bytesToHex) ever sends.
noble itself would also parse uppercase; we refuse it so that one key or signature has exactly one
spelling: (synthientId, signature) is the dedup key and synthientId the peer-table key.
"""

from __future__ import annotations

import re

from .canonical import js_stringify
from typing import Callable

from .crypto import Ed25519Provider, cryptography_provider

__all__ = ["Identity", "verify_packet", "packet_verifier", "packet_message"]

_ID_RE = re.compile(r"[0-9a-f]{64}\Z")
_SIG_RE = re.compile(r"[0-9a-f]{128}\Z")
_KEY_HEX_RE = re.compile(r"[0-9a-fA-F]{64}\Z")


def packet_message(packet: dict) -> bytes:
    """The bytes a v1 node signs and verifies for `packet`."""
    return js_stringify(packet).encode("utf-8")


class Identity:
    """A private key and its synthientId. The core never draws randomness: `generate` takes it."""

    __slots__ = ("_private_key", "_public_key", "_provider")

    def __init__(self, private_key: bytes, provider: Ed25519Provider | None = None) -> None:
        if not isinstance(private_key, (bytes, bytearray)) or len(private_key) != 32:
            raise ValueError("private key must be 32 bytes")
        self._private_key = bytes(private_key)
        self._provider = provider or cryptography_provider()
        self._public_key = self._provider.public_key(self._private_key)

    @classmethod
    def from_private_key(cls, key: bytes | str, provider: Ed25519Provider | None = None) -> Identity:
        """From 32 raw bytes or their 64-char hex (either case), as v1 stores `synthientPrivKey`."""
        if isinstance(key, str):
            if not _KEY_HEX_RE.match(key):
                raise ValueError("private key hex must be 64 hex characters")
            key = bytes.fromhex(key)
        return cls(key, provider)

    @classmethod
    def generate(cls, random_bytes: bytes, provider: Ed25519Provider | None = None) -> Identity:
        """A new identity from 32 caller-supplied random bytes (like noble's randomPrivateKey)."""
        if not isinstance(random_bytes, (bytes, bytearray)) or len(random_bytes) != 32:
            raise ValueError("generate() needs exactly 32 random bytes")
        return cls(random_bytes, provider)

    @property
    def synthient_id(self) -> str:
        return self._public_key.hex()

    @property
    def public_key(self) -> bytes:
        return self._public_key

    @property
    def private_key_hex(self) -> str:
        return self._private_key.hex()

    def sign_packet(self, packet: dict) -> str:
        """Lowercase hex Ed25519 signature over UTF-8 of js_stringify(packet)."""
        if not isinstance(packet, dict):
            raise TypeError("a packet is a dict")
        return self._provider.sign(self._private_key, packet_message(packet)).hex()

    def envelope(self, packet: dict) -> dict:
        """The v1 wire envelope (v1 spec §3) carrying `packet` and its signature."""
        return {"synthientId": self.synthient_id, "signature": self.sign_packet(packet), "packet": packet}

    def __repr__(self) -> str:  # never print the private key
        return f"Identity(synthient_id={self.synthient_id!r})"


def verify_packet(
    synthient_id: object,
    signature: object,
    packet: object,
    provider: Ed25519Provider | None = None,
) -> bool:
    """True iff `signature` is `synthient_id`'s signature of `packet`. Never raises.

    False for anything malformed: ids/signatures that are not lowercase hex of the right length,
    a packet that is not a dict or cannot be serialised, invalid points, wrong signatures.
    (Only a missing Ed25519 provider raises: RuntimeError when no provider is passed and the
    `cryptography` package is absent.)
    """
    if not (isinstance(synthient_id, str) and _ID_RE.match(synthient_id)):
        return False
    if not (isinstance(signature, str) and _SIG_RE.match(signature)):
        return False
    if not isinstance(packet, dict):
        return False
    # Outside the try: having no Ed25519 provider at all is a setup error, not bad input.
    crypto = provider or cryptography_provider()
    try:
        message = packet_message(packet)
        return bool(crypto.verify(bytes.fromhex(synthient_id), bytes.fromhex(signature), message))
    except Exception:  # untrusted input (or a misbehaving provider) must not crash the caller
        return False


def packet_verifier(provider: Ed25519Provider | None = None) -> Callable[[str, str, dict], bool]:
    """`verify_packet` bound to one provider: what `Node(verify=...)` takes."""
    if provider is None:
        return verify_packet

    def verify(synthient_id: object, signature: object, packet: object) -> bool:
        return verify_packet(synthient_id, signature, packet, provider)
    return verify
