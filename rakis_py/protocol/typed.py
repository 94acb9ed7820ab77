"""Typed arrays: the one conversion of a binary embedding to bytes, whatever form it arrived in.

A JS Uint8Array crosses as a list of ints, or (through JSON.stringify, as v1 sent them) as an
index-keyed object {"0": .., "1": .., ...}; the core holds `bytes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = ["as_bytes"]


def as_bytes(value: Any) -> Optional[bytes]:
    """A binary embedding as bytes, from bytes, a list of ints or a JS index-keyed object (None stays None).
    Raises KeyError/TypeError/ValueError on anything else (an index-keyed object with a gap, a value
    outside 0..255)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, Mapping):
        value = [value[str(i)] for i in range(len(value))]
    try:
        return bytes(value)                    # a list of ints 0..255: the usual case, fast
    except TypeError:
        return bytes(int(v) for v in value)    # e.g. floats from JS numbers
