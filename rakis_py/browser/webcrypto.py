"""Ed25519 for the core in the browser: the tab's WebCrypto, made synchronous with Pyodide's JSPI.

The core calls a synchronous `Ed25519Provider`. Pyodide's official `cryptography` wheel is not in
dist (the wheel source build.py uses does not carry it), and WebCrypto is async. Pyodide's
`run_sync` (JavaScript Promise Integration, on by default in Chromium) suspends Python until a
promise settles, so a provider can await `crypto.subtle` as if it were synchronous. It only works
when Python was entered through `callPromising` / `runPythonAsync`: the page serialises every call
into the node through one queue (web/js/bridge.js), which also keeps `Node.handle` from being
re-entered while it waits.

The JS side (web/js/ed25519.js) takes and returns lowercase hex strings only, so nothing but strings
and booleans cross: `publicKey(privHex)`, `sign(privHex, msgHex)`, `verify(pubHex, sigHex, msgHex)`,
each returning a Promise. It caches imported CryptoKeys.
"""

from __future__ import annotations

from typing import Any, Callable

from ..protocol.crypto import CryptographyProvider, Ed25519Provider


class WebCryptoEd25519:
    """`Ed25519Provider` over a JS bridge of async hex functions, awaited with `run_sync`."""

    def __init__(self, bridge: Any, run_sync: Callable[[Any], Any]) -> None:
        self._bridge = bridge
        self._run_sync = run_sync

    def public_key(self, private_key: bytes) -> bytes:
        _check_len("private key", private_key, 32)
        return bytes.fromhex(str(self._run_sync(self._bridge.publicKey(bytes(private_key).hex()))))

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        _check_len("private key", private_key, 32)
        sig = str(self._run_sync(self._bridge.sign(bytes(private_key).hex(), bytes(message).hex())))
        if len(sig) != 128:
            raise RuntimeError(f"WebCrypto returned a {len(sig) // 2}-byte Ed25519 signature")
        return bytes.fromhex(sig)

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        if not (_is_len(public_key, 32) and _is_len(signature, 64)):
            return False
        try:
            return bool(self._run_sync(self._bridge.verify(bytes(public_key).hex(), bytes(signature).hex(),
                                                           bytes(message).hex())))
        except Exception:  # a rejected promise (bad point): not a valid signature
            return False


def _is_len(b: object, n: int) -> bool:
    return isinstance(b, (bytes, bytearray, memoryview)) and len(b) == n


def _check_len(what: str, b: object, n: int) -> None:
    if not _is_len(b, n):
        raise ValueError(f"{what} must be {n} bytes")


def choose_provider(bridge: Any = None, run_sync: Callable[[Any], Any] | None = None) -> tuple[Ed25519Provider, str]:
    """`cryptography` when importable (CPython, or a dist that ships it), else WebCrypto through
    `bridge`. Returns the provider and its name (shown in the UI)."""
    try:
        return CryptographyProvider(), "cryptography"
    except RuntimeError:
        pass
    if bridge is None:
        raise RuntimeError("no Ed25519 provider: 'cryptography' is missing and no WebCrypto bridge was given")
    if run_sync is None:
        from pyodide.ffi import run_sync  # type: ignore[import-not-found]  # only in Pyodide
    return WebCryptoEd25519(bridge, run_sync), "webcrypto"


_chosen: Ed25519Provider | None = None


def install(bridge: Any = None, run_sync: Callable[[Any], Any] | None = None) -> str:
    """Choose the tab's provider (the page calls this once, before `node_host.start`), which
    `node_host` then passes to the node's Identity and signature check. Returns its name."""
    global _chosen
    _chosen, name = choose_provider(bridge, run_sync)
    return name


def chosen() -> Ed25519Provider | None:
    """The provider `install` chose (None before: CPython's default then applies)."""
    return _chosen
