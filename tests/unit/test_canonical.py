"""js_stringify / js_number against JavaScript's own JSON.stringify (node), plus properties."""

from __future__ import annotations

import json
import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol.canonical import (
    float32_array_object,
    is_array_index,
    js_number,
    js_stringify,
)
from tests.unit import jsnode

needs_node = pytest.mark.skipif(jsnode.NODE is None, reason="node is not on PATH: cannot compare with JavaScript")


def _node_stringify(specs: list) -> list[str]:
    out = jsnode.run_node(
        "for (const s of input) console.log(utf8hex(JSON.stringify(build(s))));", specs
    )
    lines = out.split("\n")[: len(specs)]
    return [bytes.fromhex(h).decode("utf-8") for h in lines]


@needs_node
def test_byte_identical_to_node_json_stringify():
    rng = random.Random(20240725)
    specs = [jsnode.random_spec(rng) for _ in range(2500)]
    # Numbers alone, many of them, so every formatting branch is hit at the top level too.
    specs += [["f", struct.pack(">d", jsnode.random_double(rng)).hex()] for _ in range(3000)]
    specs += [["s", jsnode.enc_str(jsnode.random_string(rng, 40))] for _ in range(500)]
    # Float lists and index-keyed float objects (the bulk fast paths), sometimes with an int,
    # a bool or a string mixed in, which must fall back to the general path.
    for _ in range(300):
        items = [["f", struct.pack(">d", jsnode.random_double(rng)).hex()] for _ in range(rng.randint(1, 30))]
        if rng.random() < 0.4:
            items.insert(rng.randrange(len(items) + 1),
                         rng.choice([["i", str(rng.randint(-5, 2**60))], ["t"], ["s", "3000"], ["n"]]))
        specs.append(["a", items])
        specs.append(["o", [[jsnode.enc_str(str(i)), v] for i, v in enumerate(items)]])
    # One v1-shaped reveal: Float32Array embedding and Uint8Array bEmbedding.
    emb = b"".join(struct.pack("<f", rng.gauss(0, 0.05)) for _ in range(768))
    specs.append(["o", [
        [jsnode.enc_str("type"), ["s", jsnode.enc_str("inferenceReveal")]],
        [jsnode.enc_str("output"), ["s", jsnode.enc_str(jsnode.random_string(rng, 500))]],
        [jsnode.enc_str("embedding"), ["F32", emb.hex()]],
        [jsnode.enc_str("bEmbedding"), ["U8", rng.randbytes(96).hex()]],
    ]])
    expected = _node_stringify(specs)
    assert len(expected) == len(specs)
    mismatches = []
    for spec, js in zip(specs, expected):
        ours = js_stringify(jsnode.from_spec(spec))
        if ours != js:
            mismatches.append((spec, ours, js))
    assert not mismatches, mismatches[:5]


@needs_node
def test_python_ints_format_as_the_double_js_holds():
    ints = [2**53 + 1, -(2**53) - 3, 2**64 + 12345, 10**21 + 1, 10**400, 7, -(2**52)]
    ints += [random.Random(i).randint(-(2**80), 2**80) for i in range(200)]
    expected = _node_stringify([["i", str(i)] for i in ints])
    assert [js_number(i) for i in ints] == expected
    assert [js_stringify(i) for i in ints] == expected


def test_spec_examples():
    # From spec §2.2, checked there with node.
    assert js_stringify(float32_array_object([0.000032, 1e-7])) == (
        '{"0":0.00003199999991920777,"1":1.0000000116860974e-7}'
    )
    assert js_number(-0.0) == "0"
    assert js_number(float("nan")) == js_number(float("inf")) == "null"
    assert js_number(1e21) == "1e+21" and js_number(1e20) == "100000000000000000000"


def test_index_keys_come_first_in_ascending_order():
    d = {"b": 1, "4294967295": 2, "10": 3, "2": 4, "01": 5, "4294967294": 6}
    assert list(json.loads(js_stringify(d))) == ["2", "10", "4294967294", "b", "4294967295", "01"]
    assert is_array_index("0") and is_array_index("4294967294")
    assert not any(is_array_index(k) for k in ["", "01", "-1", "4294967295", "\u0663", "1.0"])


def test_bytes_serialise_like_uint8array():
    assert js_stringify(b"") == "{}"
    assert js_stringify(bytearray([1, 255])) == '{"0":1,"1":255}'


def test_rejects_non_str_keys_and_unknown_types():
    with pytest.raises(TypeError):
        js_stringify({1: "a"})
    with pytest.raises(TypeError):
        js_stringify({"a": {None: 1}})
    with pytest.raises(TypeError):
        js_stringify({"a": object()})
    with pytest.raises(TypeError):
        js_stringify({1.5, 2.5})
    deep: list = []
    cur = deep
    for _ in range(100_000):
        cur.append([])
        cur = cur[0]
    with pytest.raises(ValueError):
        js_stringify(deep)


def test_lone_surrogates_escaped_pairs_joined():
    assert js_stringify("\ud800") == '"\\ud800"'
    assert js_stringify("a\udfffb") == '"a\\udfffb"'
    assert js_stringify("\ud83d\ude00") == '"\U0001F600"'  # a pair written as two code points
    js_stringify("\udc00\ud800").encode("utf-8")  # always encodable


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(width=32, allow_nan=False, allow_infinity=False)
    | st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
)
json_values = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=5), kids, max_size=5),
    max_leaves=30,
)


def _same(a: object, b: object) -> bool:
    """b is a's JSON round trip: floats equal exactly (-0 becomes 0), tuples become lists."""
    if isinstance(a, float):
        return isinstance(b, (int, float)) and not isinstance(b, bool) and float(b) == a and (
            a != 0 or math.copysign(1, float(b)) == 1)
    if isinstance(a, dict):
        return isinstance(b, dict) and sorted(a) == sorted(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, str):  # adjacent surrogates are one character to JS: compare as UTF-16
        utf16 = lambda t: t.encode("utf-16-le", "surrogatepass")
        return isinstance(b, str) and utf16(a) == utf16(b)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trips_through_json_loads(value):
    text = js_stringify(value)
    assert _same(value, json.loads(text))


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_is_shortest_round_trip(x):
    s = js_number(x)
    assert float(s) == x
    # shortest: same significant digits as Python's repr (also shortest round-trip)
    digits = lambda t: t.lstrip("-").split("e")[0].replace(".", "").strip("0")
    assert digits(s) == digits(repr(x))
