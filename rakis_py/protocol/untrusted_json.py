"""Bounded JSON for untrusted input: size and nesting are checked before any deep work, and
nothing here recurses on the input, so hostile JSON costs at most linear time in its (bounded)
size and cannot reach Python's recursion limit (or overflow the WASM stack on Pyodide).

Raises `PacketRejected` (NOT_JSON, TOO_LARGE, TOO_DEEP) and nothing else for bad input.
Stricter than `json.loads` on purpose: NaN/Infinity tokens, duplicate object keys and integer
literals of more than 21 digits (JS never writes those) are refused.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Union

from .errors import PacketRejected, RejectCode

__all__ = ["load_json", "check_json_tree"]


class _Reject(Exception):
    """Internal: raised from json hooks, turned into PacketRejected."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        self.code, self.detail = code, detail


# A JSON string; the closing quote is optional so an unterminated string consumes the rest in
# one pass (a required quote would make re.sub retry from every later '"': quadratic time).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# JS never prints an integer with more than 21 digits (1e21 and up use exponent notation);
# longer literals are refused before int() (quadratic in the digit count) sees them.
_MAX_INT_DIGITS = 21


def _rejected(code: RejectCode, detail: str) -> PacketRejected:
    return PacketRejected(code, detail[:200])


def _too_deep(text: str, max_depth: int) -> bool:
    """Whether JSON text nests deeper than max_depth, decided without recursion."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the common case: fewer brackets than the limit (strings included)
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for ch in brackets:
        if ch == "[" or ch == "{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def _no_duplicate_keys(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        # JS keeps the last value at the first key's position; rather than guess, refuse.
        raise _Reject(RejectCode.NOT_JSON, f"duplicate key {dup[:40]!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise _Reject(RejectCode.NOT_JSON, f"{name} is not JSON")


def _bounded_int(literal: str) -> int:
    if len(literal) - literal.startswith("-") > _MAX_INT_DIGITS:
        raise _Reject(RejectCode.TOO_LARGE, f"integer literal longer than {_MAX_INT_DIGITS} digits")
    return int(literal)


def _parse_json(text: str, max_depth: int) -> Any:
    if _too_deep(text, max_depth):
        raise _rejected(RejectCode.TOO_DEEP, f"nesting deeper than {max_depth}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
        )
    except _Reject as r:
        raise _rejected(r.code, r.detail) from None
    except json.JSONDecodeError as e:
        raise _rejected(RejectCode.NOT_JSON, f"{e.msg} at offset {e.pos}") from None
    except RecursionError:  # not reachable after the depth check; kept as a backstop
        raise _rejected(RejectCode.TOO_DEEP, "nesting too deep for the parser") from None
    except ValueError as e:
        raise _rejected(RejectCode.NOT_JSON, str(e)) from None


def check_json_tree(root: Any, max_bytes: int, max_depth: int) -> None:
    """For already-parsed input (a dict a transport handed over): JSON types only (str keys,
    finite numbers, |int| < 1e21), nesting depth, and an estimate of the serialised size that
    stops as soon as it passes the limit, so it stays cheap on huge input. The estimate ignores
    string escapes and errs high for floats. Containers are walked with an explicit stack (no
    recursion), so cycles end as TOO_DEEP."""
    budget = max_bytes
    size = 0
    stack = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        is_dict = isinstance(value, dict)
        if is_dict:
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            raise _rejected(RejectCode.NOT_JSON, f"{type(value).__name__} is not a JSON container")
        if depth > max_depth:
            raise _rejected(RejectCode.TOO_DEEP, f"nesting deeper than {max_depth}")
        size += 1 + len(value)  # brackets and separators
        if size > budget:
            raise _rejected(RejectCode.TOO_LARGE, f"more than {budget} bytes")
        for key, item in items:
            if is_dict:
                if type(key) is not str and not isinstance(key, str):
                    raise _rejected(RejectCode.NOT_JSON, "object keys must be strings")
                if len(key) > budget:
                    raise _rejected(RejectCode.TOO_LARGE, f"more than {budget} bytes")
                size += len(key) + 4 if key.isascii() else _str_size(key) + 2
            t = type(item)
            # exact types first (the common case), subclasses after
            if t is float or (t is not bool and t is not int and isinstance(item, float)):
                if not math.isfinite(item):
                    raise _rejected(RejectCode.NOT_JSON, "NaN/Infinity are not JSON")
                size += 24  # an upper bound of JS's float text
            elif t is int or (t is not bool and isinstance(item, int)):
                if not -10**21 < item < 10**21:
                    raise _rejected(RejectCode.TOO_LARGE, "integer out of range")
                size += 2 + (item.bit_length() * 77 >> 8)  # digits ~ bits * log10(2)
            elif t is str or isinstance(item, str):
                if len(item) > budget:  # before encoding a huge non-ASCII string
                    raise _rejected(RejectCode.TOO_LARGE, f"more than {budget} bytes")
                size += len(item) + 3 if item.isascii() else _str_size(item) + 1
                if size > budget:
                    raise _rejected(RejectCode.TOO_LARGE, f"more than {budget} bytes")
            elif item is None or t is bool:
                size += 6
            elif isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            else:
                raise _rejected(RejectCode.NOT_JSON, f"{t.__name__} is not a JSON value")
        if size > budget:
            raise _rejected(RejectCode.TOO_LARGE, f"more than {budget} bytes")


def _str_size(s: str) -> int:
    if s.isascii():
        return len(s) + 2
    return len(s.encode("utf-8", "surrogatepass")) + 2


def load_json(data: Union[bytes, bytearray, memoryview, str], max_bytes: int, max_depth: int) -> Any:
    """Parse JSON text (UTF-8 bytes or str) of at most max_bytes UTF-8 bytes and max_depth
    nesting levels; both are checked before parsing."""
    if isinstance(data, str):
        # characters <= UTF-8 bytes: the cheap test first
        if len(data) > max_bytes or (
            not data.isascii() and len(data.encode("utf-8", "surrogatepass")) > max_bytes
        ):
            raise _rejected(RejectCode.TOO_LARGE, f"more than {max_bytes} bytes")
        return _parse_json(data, max_depth)
    if memoryview(data).nbytes > max_bytes:
        raise _rejected(RejectCode.TOO_LARGE, f"more than {max_bytes} bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        raise _rejected(RejectCode.NOT_JSON, f"not UTF-8 at offset {e.start}") from None
    return _parse_json(text, max_depth)
