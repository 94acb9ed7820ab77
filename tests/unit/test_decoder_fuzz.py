"""Property tests: whatever arrives, decode_envelope returns an Envelope or raises PacketRejected.

Inputs: arbitrary bytes, arbitrary JSON values (as text and as parsed dicts), envelopes with a
known type and arbitrary content, and mutations of valid packets (fields dropped, replaced,
added, duplicated; wire bytes flipped, cut, inserted). Anything accepted must also be
re-serialisable for signature checking.
"""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rakis_py.protocol import packets as P
from rakis_py.protocol.canonical import js_stringify
from rakis_py.protocol.errors import PacketRejected, RejectCode
from rakis_py.protocol.identity import verify_packet
from tests.unit._packet_samples import SID_A, envelope, v1_packets, v2_packets

SAMPLES = {**v1_packets(), **v2_packets()}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_LIGHT = settings(FUZZ, max_examples=200)  # for the strategies that are slow to generate


def outcome(data, limits=P.DEFAULT_LIMITS):
    """'ok' or the reject code; fails the test on any other exception or an internal error."""
    try:
        env = P.decode_envelope(data, limits)
    except PacketRejected as r:
        assert not r.detail.startswith("internal"), r.detail
        assert len(r.detail) <= 200
        return r.code
    assert isinstance(env, P.Envelope)
    assert env.packet.type == env.raw_packet["type"]
    # what the node does next: re-stringify and verify; neither may raise
    js_stringify(env.raw_packet)
    assert verify_packet(env.synthient_id, env.signature, env.raw_packet) in (True, False)
    return "ok"


# --- strategies ---------------------------------------------------------------------------

TRICKY = st.sampled_from([
    None, True, False, 0, -1, 1, 255, 256, 2**53, 2**53 + 1, 10**21 - 1, -(10**21) + 1,
    0.5, -0.0, 1e-7, 1e308, "", "0", "a" * 65, "ab" * 64, SID_A, SID_A.upper(), SID_A[:-1],
    "x" * 2000, "\ud800", "🍂", [], {}, [0] * 96, [256] * 96, {"0": 1, "2": 3}, {"0": 1, "1": 2},
    {"type": "bembedding_hash_mismatch"}, {"type": "computed_bembedding_fails_threshold"},
    "peerStatusUpdate", "inferenceReveal", "boot", "loaded_worker", "verifying quorum",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=30) | TRICKY)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)
FINITE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**21) + 1, 10**21 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)

# TRICKY holds mutable values: mutations must work on copies, or examples would leak state.
FRESH_JSON = JSON.map(copy.deepcopy)


class Pairs(list):
    """An object written with possibly repeated keys (JSON allows it, dicts cannot hold it)."""


def dump(value) -> str:
    if isinstance(value, Pairs):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # NaN/Infinity become their (non-JSON) tokens


def containers(value, path=()):
    if isinstance(value, (dict, list)):
        yield path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            yield from containers(v, path + (k,))


def at(root, path):
    for k in path:
        root = root[k]
    return root


@st.composite
def mutated_envelopes(draw):
    """A valid envelope with one to three structural mutations; returns (value, has_dups)."""
    env = json.loads(json.dumps(envelope(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])))
    dups = False
    for _ in range(draw(st.integers(1, 3))):
        paths = list(containers(env))
        path = draw(st.sampled_from(paths))
        target = at(env, path) if path else env
        op = draw(st.sampled_from(["drop", "replace", "replace", "add", "duplicate"]))
        if isinstance(target, dict):
            keys = list(target)
            if op == "add" or not keys:
                target[draw(st.text(max_size=12) | st.sampled_from(["type", "embedding", "x"]))] = draw(FRESH_JSON)
            elif op == "drop":
                del target[draw(st.sampled_from(keys))]
            elif op == "replace":
                target[draw(st.sampled_from(keys))] = draw(FRESH_JSON)
            elif op == "duplicate" and path:
                key = draw(st.sampled_from(keys))
                pairs = Pairs(target.items())
                pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(FRESH_JSON)))
                at(env, path[:-1])[path[-1]] = pairs
                dups = True
                break  # Pairs is not a dict: stop mutating this draw
        elif isinstance(target, list):
            if op == "drop" and target:
                del target[draw(st.integers(0, len(target) - 1))]
            elif op == "add" or not target:
                target.append(draw(FRESH_JSON))
            else:
                target[draw(st.integers(0, len(target) - 1))] = draw(FRESH_JSON)
    return env, dups


# --- properties ---------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data):
    outcome(data)


@FUZZ
@given(JSON)
def test_arbitrary_json_values_as_text_and_as_objects(value):
    outcome(dump(value).encode())
    outcome(dump(value))
    outcome(value)


@FUZZ_LIGHT
@given(
    sid=st.sampled_from([SID_A, SID_A.upper(), "x"]) | st.text(max_size=70),
    sig=st.sampled_from(["ab" * 64]) | st.text(max_size=130),
    ptype=st.sampled_from(sorted(P.PACKET_TYPES)) | st.text(max_size=20),
    body=st.dictionaries(
        st.sampled_from(["status", "requestId", "inferenceId", "createdAt", "output", "bEmbedding",
                         "embedding", "quorum", "payload", "rejectReason", "peerList", "inferenceIds",
                         "verifiedBy", "identities", "timeoutMs"]) | st.text(max_size=10),
        st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10),
        max_size=6),
)
def test_envelopes_of_known_types_with_arbitrary_fields(sid, sig, ptype, body):
    env = {"synthientId": sid, "signature": sig, "packet": {"type": ptype, **body}}
    outcome(env)
    outcome(dump(env).encode())


@FUZZ
@given(mutated_envelopes())
def test_mutated_valid_packets(case):
    env, dups = case
    outcome(dump(env).encode())
    if not dups:
        outcome(env)


@FUZZ
@given(name=st.sampled_from(sorted(SAMPLES)), data=st.data())
def test_byte_mutations_of_valid_wire_packets(name, data):
    wire = bytearray(json.dumps(envelope(SAMPLES[name]), ensure_ascii=False).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            wire[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del wire[pos:pos + data.draw(st.integers(1, 50))]
        else:
            wire[pos:pos] = data.draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b"[", b"{", b'"', b"\\", b",", b"NaN", b"1e999", b"-", b'"0":1,']))
        if not wire:
            break
    outcome(bytes(wire))


@FUZZ_LIGHT
@given(FINITE_JSON, st.booleans())
def test_text_and_object_inputs_agree(value, wrap):
    """The parsed-dict path and the JSON-text path decide the same way."""
    if isinstance(value, str) and not wrap:
        value = [value]  # a str input means JSON text; an array tests the same path
    if wrap:
        value = {"synthientId": SID_A, "signature": "ab" * 64, "packet": value}
    assert outcome(value) == outcome(json.dumps(value).encode())


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.sampled_from(["[", "{\"a\":"]))
def test_nesting_never_recurses_past_the_limit(depth, opener):
    limits = P.PacketLimits(max_depth=8)
    text = opener * depth + "1" + ("]" if opener == "[" else "}") * depth
    expected_deep = depth > 8
    assert (outcome(text, limits) == RejectCode.TOO_DEEP) == expected_deep
