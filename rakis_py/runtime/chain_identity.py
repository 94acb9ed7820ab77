"""Check a peer's claimed EVM chain identity (v1 spec §2.5), fixing v1's tautological check (v1 spec §15.13).

A v1 node proves it owns an EVM address by having the wallet `personal_sign` (EIP-191) its
synthientId as text; peers receive `{chain, address, synthientIdSignature, signedWithWallet}`.
v1 recovered the signer from the signature and then verified the signature against *that same
recovered* address, so any valid signature by any key "proved" any claimed address. Here the
recovered signer must equal the claimed `address`.

Plug into the core with `PeerTable(identity_check=verify_chain_identity)`. This lives in runtime/
rather than the pure core because secp256k1 recovery and keccak come from third-party packages
(eth-keys, eth-hash with the pycryptodome backend) that may be missing on Pyodide; they are imported
on first use, and their absence is a RuntimeError (a deployment problem), never a silent False.
Only externally owned accounts can be checked this way (v1 had the same limit: no EIP-1271
contract wallets); `chain` is not checked because an EOA address is the same on every EVM chain.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

_SYNTHIENT_ID = re.compile(r"^[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")   # r (32 bytes) || s (32) || v (1)

# secp256k1 group order: r and s must lie in [1, N-1].
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_Recover = Callable[[bytes, int, int, int], "bytes | None"]
_recover: _Recover | None = None


def eip191_message(text: str) -> bytes:
    """The bytes `personal_sign` / viem `signMessage({message: text})` hashes with keccak-256."""
    data = text.encode("utf-8")
    return b"\x19Ethereum Signed Message:\n" + str(len(data)).encode("ascii") + data


def _load() -> _Recover:
    """Import the crypto packages once; return `recover(message, v, r, s) -> 20-byte address`."""
    global _recover
    if _recover is not None:
        return _recover
    try:
        from eth_keys import keys
        from eth_keys.exceptions import BadSignature, ValidationError
    except ImportError as exc:
        raise RuntimeError(
            "chain identity verification needs the 'eth-keys' package (pip install eth-keys)"
        ) from exc
    try:
        from eth_hash.auto import keccak
        keccak(b"")   # eth-hash picks its backend lazily: fail here, not on the first packet
    except ImportError as exc:
        raise RuntimeError(
            "chain identity verification needs a keccak backend for eth-hash: install "
            "'pycryptodome' (pip install \"eth-hash[pycryptodome]\")"
        ) from exc

    def recover(message: bytes, v: int, r: int, s: int) -> bytes | None:
        try:
            signature = keys.Signature(vrs=(v, r, s))
            public_key = signature.recover_public_key_from_msg_hash(keccak(message))
            return public_key.to_canonical_address()
        except (BadSignature, ValidationError, ValueError):
            return None   # r is not an x coordinate on the curve, or the point is at infinity

    _recover = recover
    return recover


def chain_identity_available() -> bool:
    """Whether `verify_chain_identity` can run here (its packages are importable)."""
    try:
        _load()
    except RuntimeError:
        return False
    return True


def recover_address(synthient_id: str, signature_hex: str) -> str | None:
    """The lowercase `0x…` address that signed `synthient_id` (EIP-191), or None if the
    signature is malformed or recovers nothing. v may be 27/28 (wallets) or 0/1."""
    recover = _load()   # first, so a missing package shows up whatever the input
    if not isinstance(synthient_id, str) or not isinstance(signature_hex, str):
        return None
    if not _SYNTHIENT_ID.match(synthient_id) or not _SIGNATURE.match(signature_hex):
        return None
    raw = bytes.fromhex(signature_hex[2:])
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1) or not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        return None
    address = recover(eip191_message(synthient_id), v, r, s)
    return "0x" + address.hex() if address is not None else None


def verify_chain_identity(synthient_id: str, identity: Any) -> bool:
    """True only if `identity["synthientIdSignature"]` is an EIP-191 signature of `synthient_id`
    by the claimed `identity["address"]` (hex compared case-insensitively). Anything malformed
    gives False; raises only RuntimeError when the crypto packages are not installed."""
    _load()
    if not isinstance(identity, Mapping):
        return False
    address = identity.get("address")
    if not isinstance(address, str) or not _ADDRESS.match(address):
        return False
    recovered = recover_address(synthient_id, identity.get("synthientIdSignature"))
    return recovered is not None and recovered == address.lower()
