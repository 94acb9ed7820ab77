"""Ed25519 behind a small synchronous provider interface, so each platform can plug its own.

CPython (and Pyodide, which ships `cryptography`) use `CryptographyProvider`. A browser build
pass another provider to `Identity` and `identity.packet_verifier` (e.g. one backed by a JS library).
WebCrypto's Ed25519 is async: a browser adapter that wants it verifies outside the core; the
core itself only ever calls this sync interface.

Verification rules differ slightly from v1. v1 used noble-ed25519 2.x, whose `verify` follows
ZIP-215: cofactored equation [8][S]B = [8]R + [8][k]A, non-canonical encodings of A and R
accepted. `cryptography` (OpenSSL) follows RFC 8032 strictly: cofactorless equation
[S]B = R + [k]A, R compared as canonical bytes, S < L. Honest signatures (any RFC 8032 signer,
including noble and OpenSSL) verify under both. Only signatures crafted on purpose by a key holder
(small-order or mixed-order points, non-canonical encodings) can be accepted by v1 and refused
here. (The cofactorless check implies the cofactored one, so what we accept v1 should accept too;
that direction is reasoned, not tested against noble.)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol, runtime_checkable

__all__ = [
    "Ed25519Provider",
    "CryptographyProvider",
    "cryptography_provider",
]


@runtime_checkable
class Ed25519Provider(Protocol):
    """Raw Ed25519: 32-byte private seeds, 32-byte public keys, 64-byte signatures."""

    def public_key(self, private_key: bytes) -> bytes: ...

    def sign(self, private_key: bytes, message: bytes) -> bytes: ...

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        """True iff valid; False (never an exception) for a bad key, signature or length."""
        ...


# Key objects are cached: parsing a key costs about as much as a verification. Private keys: the
# node's own (few); public keys: one per peer.
@lru_cache(maxsize=8)
def _private_key_object(private_key: bytes):  # noqa: ANN202 - type lives in the lazy import
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(private_key)


@lru_cache(maxsize=4096)
def _public_key_object(public_key: bytes):  # noqa: ANN202
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(public_key)


class CryptographyProvider:
    """Ed25519 from the `cryptography` package (OpenSSL), imported on first use."""

    def __init__(self) -> None:
        # Fail here, with a clear message, rather than on the first signature.
        try:
            from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401
            from cryptography.exceptions import InvalidSignature
        except ImportError as e:
            raise RuntimeError(
                "the 'cryptography' package is not available; install it or pass another "
                "Ed25519Provider to Identity / packet_verifier"
            ) from e
        self._invalid_signature = InvalidSignature

    def public_key(self, private_key: bytes) -> bytes:
        _check_len("private key", private_key, 32)
        return _private_key_object(bytes(private_key)).public_key().public_bytes_raw()

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        _check_len("private key", private_key, 32)
        return _private_key_object(bytes(private_key)).sign(bytes(message))

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        if not (_is_len(public_key, 32) and _is_len(signature, 64)):
            return False
        try:
            key = _public_key_object(bytes(public_key))
            key.verify(bytes(signature), bytes(message))
        except (self._invalid_signature, ValueError, TypeError):
            return False
        return True


def _is_len(b: object, n: int) -> bool:
    return isinstance(b, (bytes, bytearray, memoryview)) and len(b) == n


def _check_len(what: str, b: object, n: int) -> None:
    if not _is_len(b, n):
        raise ValueError(f"{what} must be {n} bytes")


_cryptography: Ed25519Provider | None = None


def cryptography_provider() -> Ed25519Provider:
    """The CPython default a caller gets when it passes no provider: one shared
    `CryptographyProvider` (stateless; built on first use). Raises RuntimeError without the
    `cryptography` package (Pyodide): there, pass a provider (browser/webcrypto.py)."""
    global _cryptography
    if _cryptography is None:
        _cryptography = CryptographyProvider()
    return _cryptography
