"""sha256 helpers and the BuildError every check raises."""
import base64
import hashlib
from pathlib import Path

CHUNK = 1 << 20


class BuildError(Exception):
    """A part is missing or does not match its pin; the message says which and what to do."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sri(algorithm: str, path: Path) -> str:
    """Subresource-integrity string (`sha512-<base64>`), the format npm locks use."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return f"{algorithm}-{base64.b64encode(h.digest()).decode()}"


def require_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise BuildError(f"{what}: sha256 of {path} is {actual}, pins say {expected}")


def tree_digest(paths: list[Path], base: Path, extra: str = "") -> str:
    """One hash over files' relative names and contents: the cache key of a derived output."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.relative_to(base)).encode() + b"\0")
        h.update(bytes.fromhex(sha256_file(p)))
    return h.hexdigest()
