"""JavaScript-compatible JSON serialisation (`JSON.stringify`), the bytes v1 signs (v1 spec §2.2, §20).

A v1 verifier re-serialises the packet it parsed with `JSON.stringify` and checks the signature
over those bytes, so what we sign must match JavaScript byte for byte:

* object keys in insertion order, except array-index keys ("0".."4294967294", canonical decimal)
  which JavaScript always enumerates first, in ascending numeric order;
* no whitespace;
* strings escaped like well-formed `JSON.stringify`: only `"`, `\\` and U+0000–U+001F (short forms
  for \\b \\f \\n \\r \\t, else `\\u00xx`), lone surrogates as `\\udxxx`, everything else raw;
* numbers as ECMAScript Number::toString; NaN and ±Infinity as `null`.

`bytes`/`bytearray` serialise like a JS `Uint8Array` (an index-keyed object), which is the shape
v1 signs for `bEmbedding`. `float32_array_object` builds the `Float32Array` shape for `embedding`.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable
from json.encoder import encode_basestring  # C-accelerated; escapes exactly what JS escapes

__all__ = ["js_stringify", "js_number", "float32_array_object", "is_array_index"]

_MAX_ARRAY_INDEX = 2**32 - 2
_MAX_SAFE_INT = 2**53
_INDEX_RE = re.compile(r"(?:0|[1-9][0-9]{0,9})\Z")
# Python strings may hold surrogate code points; JS pairs adjacent ones and escapes lone ones.
_SURROGATES = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")
# Keys of typed-array objects, the most frequent keys by far (768 per reveal).
_INDEX_KEYS = [str(i) for i in range(4096)]
_INDEX_KEY_CACHE = {k: f'"{k}":' for k in _INDEX_KEYS}
_QUOTED_INDEX_KEYS = list(_INDEX_KEY_CACHE.values())


def is_array_index(key: str) -> bool:
    """True for keys JavaScript treats as array indices (enumerated first, ascending)."""
    return (
        _INDEX_RE.match(key) is not None
        and (len(key) < 10 or int(key) <= _MAX_ARRAY_INDEX)
    )


def js_number(x: float | int) -> str:
    """ECMAScript Number::toString of `x` (ints: the double JS would hold); NaN/Infinity -> 'null'."""
    if type(x) is int or (isinstance(x, int) and not isinstance(x, bool)):
        if -_MAX_SAFE_INT < x < _MAX_SAFE_INT:
            return str(int(x))
        try:
            x = float(x)  # round-half-even, like JS parsing an integer literal
        except OverflowError:
            return "null"  # JS would hold Infinity
    elif isinstance(x, bool):
        raise TypeError("js_number() takes a number, not a bool")
    r = repr(float(x))
    if "e" not in r:
        # repr uses fixed notation for 1e-4 <= |x| < 1e16 with the same shortest digits;
        # that range lies inside JS's fixed range, only the ".0" of integral values differs.
        if r.endswith(".0"):
            r = r[:-2]
            return "0" if r == "-0" else r
        if r in ("nan", "inf", "-inf"):
            return "null"
        return r
    return _from_exponent_repr(r)


def _from_exponent_repr(r: str) -> str:
    """v1 spec §20 steps 2-4 from Python's exponent-form repr, e.g. '1.0000000116860974e-07'."""
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, exp = r.split("e")
    digits = mantissa.replace(".", "")
    k = len(digits)
    n = int(exp) + 1  # x = 0.d1..dk * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def _float_texts(values: list | tuple) -> list[str] | None:
    """js_number of every item if all are floats (None otherwise), in bulk for speed.

    float.__repr__ runs in C and already gives JS's text for most embedding values; only
    exponent forms, NaN/Infinity and integral values ("1.0") need the slow path.
    """
    try:
        texts = list(map(float.__repr__, values))
    except TypeError:  # e.g. a parsed typed array where JS wrote `0` (an int to json.loads)
        texts = [
            float.__repr__(v) if type(v) is float else js_number(v) if type(v) is int else None
            for v in values
        ]
        if None in texts:
            return None
    joined = ",".join(texts) + ","
    if "e" in joined or "n" in joined or ".0," in joined:
        texts = [
            js_number(v) if ("e" in t or "n" in t or t.endswith(".0")) else t
            for t, v in zip(texts, values)
        ]
    return texts


def _typed_array_text(d: dict) -> str | None:
    """Fast path for {"0": f0, "1": f1, ...} holding only floats (a stringified Float32Array)."""
    n = len(d)
    if n > len(_INDEX_KEYS) or list(d) != _INDEX_KEYS[:n]:
        return None
    texts = _float_texts(list(d.values()))
    if texts is None:
        return None
    return "{" + ",".join(map(str.__add__, _QUOTED_INDEX_KEYS[:n], texts)) + "}"


def _fix_surrogate(m: re.Match[str]) -> str:
    s = m.group()
    if len(s) == 2:  # a valid pair: JS emits the astral character itself
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    return f"\\u{ord(s):04x}"


def _ordered_items(d: dict) -> Iterable:
    """Items in JS enumeration order: array-index keys ascending, then the rest as inserted."""
    index_items = None
    for k in d:
        if type(k) is not str:
            if not isinstance(k, str):
                raise TypeError(f"object keys must be str, got {type(k).__name__}")
        if "0" <= k[:1] <= "9" and is_array_index(k):
            index_items = []
            break
    if index_items is None:
        return d.items()
    rest = []
    for k, v in d.items():
        if not isinstance(k, str):
            raise TypeError(f"object keys must be str, got {type(k).__name__}")
        if "0" <= k[:1] <= "9" and is_array_index(k):
            index_items.append((int(k), k, v))
        else:
            rest.append((k, v))
    index_items.sort(key=lambda t: t[0])  # already ascending for typed arrays: linear time
    return [(k, v) for _, k, v in index_items] + rest


def _serialise(value: object, out: list[str]) -> None:
    append = out.append
    t = type(value)
    if t is str:
        append(encode_basestring(value))
    elif t is float:
        append(js_number(value))
    elif t is dict:
        if not value:
            append("{}")
            return
        if next(iter(value)) == "0":
            text = _typed_array_text(value)
            if text is not None:
                append(text)
                return
        sep = "{"
        cache = _INDEX_KEY_CACHE
        for k, v in _ordered_items(value):
            qk = cache.get(k)
            if qk is None:
                qk = encode_basestring(k) + ":"
            append(sep)
            append(qk)
            tv = type(v)
            if tv is float:  # inline fast path: typed-array objects hold hundreds of floats
                append(js_number(v))
            elif tv is str:
                append(encode_basestring(v))
            else:
                _serialise(v, out)
            sep = ","
        append("}")
    elif t is list or t is tuple:
        if not value:
            append("[]")
            return
        if type(value[0]) is float:
            texts = _float_texts(value)
            if texts is not None:
                append("[" + ",".join(texts) + "]")
                return
        sep = "["
        for v in value:
            append(sep)
            _serialise(v, out)
            sep = ","
        append("]")
    elif value is None:
        append("null")
    elif value is True:
        append("true")
    elif value is False:
        append("false")
    elif t is int:
        append(js_number(value))
    elif t is bytes or t is bytearray:
        if not value:
            append("{}")
            return
        # A Uint8Array stringifies as {"0":b0,"1":b1,...}
        append("{" + ",".join([f'"{i}":{b}' for i, b in enumerate(value)]) + "}")
    # Subclasses (str enums, int flags, OrderedDict...) take the slower checks below.
    elif isinstance(value, bool):
        append("true" if value else "false")
    elif isinstance(value, str):
        append(encode_basestring(str(value)))
    elif isinstance(value, (int, float)):
        append(js_number(value))
    elif isinstance(value, dict):
        _serialise(dict(value), out)
    elif isinstance(value, (list, tuple)):
        _serialise(list(value), out)
    elif isinstance(value, (bytes, bytearray)):
        _serialise(bytes(value), out)
    else:
        raise TypeError(f"cannot serialise {t.__name__} as JSON")


def js_stringify(obj: object) -> str:
    """`JSON.stringify(obj)` as JavaScript would produce it, for JSON-like Python values.

    Raises TypeError for non-str dict keys or unsupported types, ValueError for nesting too deep
    (or circular) to serialise.
    """
    out: list[str] = []
    try:
        _serialise(obj, out)
    except RecursionError:
        raise ValueError("value nested too deeply (or circular) for JSON") from None
    s = "".join(out)
    if not s.isascii() and _SURROGATES.search(s) is not None:
        s = _SURROGATES.sub(_fix_surrogate, s)
    return s


def float32_array_object(values: Iterable[float]) -> dict[str, float]:
    """The object `JSON.stringify(new Float32Array(values))` describes: {"0": f32(v0), ...}.

    Values are rounded to float32 (as the JS typed array stores them) and kept as Python floats,
    which hold every float32 exactly, so `js_stringify` prints JS's digits.
    """
    return {str(i): v for i, v in enumerate(array("f", values).tolist())}

