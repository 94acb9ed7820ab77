"""decode_envelope on v1-shaped packets (parse, sign, verify) and on concrete hostile input."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rakis_py.protocol import packets as P
from rakis_py.protocol.canonical import js_stringify
from rakis_py.protocol.errors import PacketRejected, RejectCode
from rakis_py.protocol.identity import Identity, verify_packet
from tests.unit._packet_samples import (
    CREATED, HASH_1, SID_A, SID_B, bembedding_96, embedding_768, envelope, index_keyed,
    v1_packets, v2_packets,
)

ALICE = Identity.from_private_key(bytes(range(32)))

EXPECTED_MODEL = {
    "status_boot": P.PeerStatusBoot,
    "status_loaded_worker": P.PeerStatusLoadedWorker,
    "status_inferencing": P.PeerStatusInferencing,
    "status_completed": P.PeerStatusCompletedInference,
    "status_embedding": P.PeerStatusComputingBEmbeddingHash,
    "peer_heart": P.PeerHeart,
    "peer_info": P.PeerInfo,
    "peer_connected_chain": P.PeerConnectedChain,
    "known_peers": P.KnownPeers,
    "p2p_request": P.P2PInferenceRequest,
    "commit": P.InferenceCommit,
    "reveal_request": P.InferenceRevealRequest,
    "reveal": P.InferenceReveal,
    "reveal_rejected_threshold": P.InferenceRevealRejected,
    "reveal_rejected_hash": P.InferenceRevealRejected,
    "quorum_computed": P.InferenceQuorumComputed,
    "v2_request": P.P2PInferenceRequest,
    "v2_reveal_request": P.InferenceRevealRequest,
    "v2_reveal": P.InferenceReveal,
    "v2_quorum_computed": P.InferenceQuorumComputed,
    "v2_reveal_missing": P.InferenceRevealMissing,
}
ALL = {**v1_packets(), **v2_packets()}


def rejected(data, limits=P.DEFAULT_LIMITS) -> PacketRejected:
    with pytest.raises(PacketRejected) as info:
        P.decode_envelope(data, limits)
    assert "internal" not in info.value.detail
    return info.value


def wire(packet: dict) -> bytes:
    return js_stringify(envelope(packet)).encode()


# --- v1 shapes parse, sign and verify -----------------------------------------------------

def test_every_v1_packet_type_is_covered():
    v1_types = {p["type"] for p in v1_packets().values()}
    assert v1_types == P.PACKET_TYPES - {"inferenceRevealMissing"}
    assert len(v1_types) == 11


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_parses_in_every_input_form(name, form):
    packet = ALL[name]
    env = envelope(packet)
    data = {"bytes": wire(packet), "str": js_stringify(env), "dict": env}[form]
    decoded = P.decode_envelope(data)
    assert type(decoded.packet) is EXPECTED_MODEL[name]
    assert decoded.type == packet["type"]
    assert decoded.synthient_id == SID_A
    assert decoded.raw_packet == packet
    assert list(decoded.raw_packet) == list(packet)  # key order kept for the signature


@pytest.mark.parametrize("name", sorted(ALL))
def test_signed_envelope_round_trip_verifies(name):
    env = ALICE.envelope(ALL[name])
    decoded = P.decode_envelope(P.encode_envelope(env))
    assert decoded.signature == env["signature"]
    assert verify_packet(decoded.synthient_id, decoded.signature, decoded.raw_packet)
    # the typed-array objects were left untouched, so re-stringifying gives the signed bytes
    assert js_stringify(decoded.raw_packet) == js_stringify(ALL[name])


def test_tampered_packet_still_decodes_but_fails_verification():
    env = ALICE.envelope(v1_packets()["commit"])
    env["packet"]["inferenceId"] = "AbCdEfGhIj.evilll"
    decoded = P.decode_envelope(P.encode_envelope(env))
    assert not verify_packet(decoded.synthient_id, decoded.signature, decoded.raw_packet)


def test_reveal_fields_are_typed():
    raw = v1_packets()["reveal"]
    r = P.decode_envelope(wire(raw)).packet
    assert r.b_embedding == bembedding_96()
    assert r.embedding == tuple(embedding_768())
    assert r.requested_synthient_id == SID_B and r.inference_id == "AbCdEfGhIj.xYzAbC"
    assert r.output == raw["output"]
    rr = P.decode_envelope(wire(v1_packets()["reveal_rejected_threshold"])).packet
    assert rr.reject_reason.computed_b_embedding == bembedding_96()
    assert rr.reject_reason.revealed_b_embedding == bembedding_96(8)


def test_typed_array_object_keys_in_any_order_and_lists_agree():
    raw = copy.deepcopy(v1_packets()["reveal"])
    as_object = P.decode_envelope(envelope(raw)).packet
    raw["bEmbedding"] = dict(reversed(list(raw["bEmbedding"].items())))
    raw["embedding"] = list(raw["embedding"].values())
    other = P.decode_envelope(envelope(raw)).packet
    assert other.b_embedding == as_object.b_embedding
    assert other.embedding == as_object.embedding


def test_v1_request_and_v2_fields():
    v1 = P.decode_envelope(wire(v1_packets()["p2p_request"])).packet
    frame = v1.payload.security_frame
    assert (frame.quorum, frame.max_time_ms, frame.sec_distance, frame.sec_percentage) == (3, 30000, 4500, 0.5)
    assert frame.protocol is None and frame.bit_tolerance is None
    v2 = P.decode_envelope(wire(v2_packets()["v2_request"])).packet.payload.security_frame
    assert (v2.protocol, v2.reveal_window_ms, v2.bit_tolerance, v2.publishers) == (2, 8000, 12, 3)
    assert v2.embedding_model_hash == HASH_1
    rr = P.decode_envelope(wire(v2_packets()["v2_reveal_request"])).packet
    assert (rr.protocol, rr.rank) == (2, 1)
    assert P.decode_envelope(wire(v2_packets()["v2_reveal"])).packet.embedding is None
    missing = P.decode_envelope(wire(v2_packets()["v2_reveal_missing"])).packet
    assert missing.inference_ids == ("v2req.aaaaaa", "v2req.bbbbbb")


def test_known_peers_null_totals_and_missing_identities():
    kp = P.decode_envelope(wire(v1_packets()["known_peers"])).packet
    assert kp.peer_list[0].total_tokens == 5000 and kp.peer_list[0].identities == ()
    assert kp.peer_list[1].total_workers is None and kp.peer_list[1].identities is None


def test_unknown_fields_are_accepted_ignored_and_kept_for_the_signature():
    packet = dict(v1_packets()["commit"], futureField={"nested": [1, 2, {"x": None}]}, zz=1.5)
    env = ALICE.envelope(packet)
    decoded = P.decode_envelope(P.encode_envelope(dict(env, receivedTime="x", deliveredThrough="nkn")))
    assert not hasattr(decoded.packet, "futureField") and not hasattr(decoded.packet, "future_field")
    assert decoded.raw_packet["futureField"] == {"nested": [1, 2, {"x": None}]}
    assert verify_packet(decoded.synthient_id, decoded.signature, decoded.raw_packet)


def test_unknown_peer_status_is_kept_as_other():
    p = P.decode_envelope(envelope({"type": "peerStatusUpdate", "status": "warming_up",
                                    "createdAt": CREATED, "gpu": "x"})).packet
    assert type(p) is P.PeerStatusOther and p.status == "warming_up"
    assert rejected(envelope({"type": "peerStatusUpdate", "status": 5, "createdAt": CREATED})).code is RejectCode.BAD_SCHEMA


def test_models_are_frozen():
    p = P.decode_envelope(wire(v1_packets()["commit"])).packet
    with pytest.raises(Exception):
        p.request_id = "other"


def test_brackets_inside_strings_do_not_count_as_nesting():
    raw = dict(v1_packets()["reveal"], output="[{" * 5000 + '"\\"]' * 10)
    assert P.decode_envelope(wire(raw)).packet.output == raw["output"]


# --- hostile input: one concrete example per rejection path --------------------------------

def mutated(name: str, **changes) -> dict:
    packet = copy.deepcopy(ALL[name])
    for key, value in changes.items():
        packet[key] = value
    return envelope(packet)


def frame_with(**changes) -> dict:
    packet = copy.deepcopy(ALL["p2p_request"])
    packet["payload"]["securityFrame"].update(changes)
    return envelope(packet)


def deep(depth: int):
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = {
    # not JSON
    "not utf-8": (b"\xff\xfe{}", RejectCode.NOT_JSON),
    "truncated": (b'{"synthientId": "', RejectCode.NOT_JSON),
    "garbage": (b"\x00\x01binary", RejectCode.NOT_JSON),
    "NaN token": (wire(ALL["peer_heart"]).replace(b'"windowX":0.5', b'"windowX":NaN'), RejectCode.NOT_JSON),
    "Infinity token": (wire(ALL["peer_heart"]).replace(b'"windowX":0.5', b'"windowX":-Infinity'), RejectCode.NOT_JSON),
    "duplicate key": (wire(ALL["commit"]).replace(b'"requestId"', b'"requestId":"x","requestId"'), RejectCode.NOT_JSON),
    "BOM": (b"\xef\xbb\xbf" + wire(ALL["commit"]), RejectCode.NOT_JSON),
    "python object": (object(), RejectCode.NOT_JSON),
    "dict with set": (mutated("commit", extra={1, 2}), RejectCode.NOT_JSON),
    "dict with int key": (mutated("commit", extra={1: "a"}), RejectCode.NOT_JSON),
    "dict with nan": (mutated("peer_heart", windowX=math.nan), RejectCode.NOT_JSON),
    "dict with bytes": (mutated("reveal", bEmbedding=bytes(96)), RejectCode.NOT_JSON),
    # size
    "10 MB string": (b'{"synthientId":"' + b"a" * 10_000_000 + b'"}', RejectCode.TOO_LARGE),
    "10 MB str input": ('{"x":"' + "é" * 5_000_000 + '"}', RejectCode.TOO_LARGE),
    "10 MB string in dict": (mutated("commit", extra="a" * 10_000_000), RejectCode.TOO_LARGE),
    "multi-byte str over limit": ('{"x":"' + "€" * 100_000 + '"}', RejectCode.TOO_LARGE),
    "huge int literal": (wire(ALL["commit"]).replace(b'"createdAt"', b'"n":' + b"9" * 5000 + b',"createdAt"'), RejectCode.TOO_LARGE),
    "huge int in dict": (mutated("commit", n=10**30), RejectCode.TOO_LARGE),
    "oversized output": (mutated("reveal", output="x" * 70_000), RejectCode.TOO_LARGE),
    "100k-entry quorum list": (mutated("reveal_request", quorum=[ALL["reveal_request"]["quorum"][0]] * 100_000), RejectCode.TOO_LARGE),
    "10M-entry list in dict": (mutated("commit", extra=[0] * 10_000_000), RejectCode.TOO_LARGE),
    "long requestId": (mutated("commit", requestId="a" * 200), RejectCode.TOO_LARGE),
    "5000-dim embedding": (mutated("reveal", embedding=[0.0] * 5000), RejectCode.TOO_LARGE),
    "1000-byte bEmbedding": (mutated("reveal", bEmbedding=index_keyed([1] * 1000)), RejectCode.TOO_LARGE),
    "2000 missing inferenceIds": (mutated("commit", type="inferenceRevealMissing", inferenceIds=["a"] * 2000), RejectCode.TOO_LARGE),
    # depth
    "deep nesting 10k bytes": (b"[" * 10_000 + b"]" * 10_000, RejectCode.TOO_DEEP),
    "deep nesting 10k unclosed": (b'{"a":' + b"[" * 10_000, RejectCode.TOO_DEEP),
    "deep nesting in packet": (mutated("commit", extra=deep(20)), RejectCode.TOO_DEEP),
    "deep nesting 10k dict": (mutated("commit", extra=deep(10_000)), RejectCode.TOO_DEEP),
    # envelope
    "JSON array at top": (b"[1,2,3]", RejectCode.BAD_ENVELOPE),
    "JSON string at top": (b'"hello"', RejectCode.BAD_ENVELOPE),
    "JSON null at top": (b"null", RejectCode.BAD_ENVELOPE),
    "list input": ([envelope(ALL["commit"])], RejectCode.BAD_ENVELOPE),
    "short synthientId": (envelope(ALL["commit"], sid=SID_A[:-1]), RejectCode.BAD_ENVELOPE),
    "uppercase synthientId": (envelope(ALL["commit"], sid=SID_A.upper()), RejectCode.BAD_ENVELOPE),
    "synthientId with newline": (envelope(ALL["commit"], sid=SID_A + "\n"), RejectCode.BAD_ENVELOPE),
    "numeric synthientId": (envelope(ALL["commit"], sid=12), RejectCode.BAD_ENVELOPE),
    "short signature": (envelope(ALL["commit"], sig="ab" * 63), RejectCode.BAD_ENVELOPE),
    "non-hex signature": (envelope(ALL["commit"], sig="zz" * 64), RejectCode.BAD_ENVELOPE),
    "missing packet": ({"synthientId": SID_A, "signature": "ab" * 64}, RejectCode.BAD_ENVELOPE),
    "packet as string": ({"synthientId": SID_A, "signature": "ab" * 64, "packet": "{}"}, RejectCode.BAD_ENVELOPE),
    # type
    "unknown type": (mutated("commit", type="inferenceTeleport"), RejectCode.UNKNOWN_TYPE),
    "missing type": (envelope({k: v for k, v in ALL["commit"].items() if k != "type"}), RejectCode.BAD_SCHEMA),
    "numeric type": (mutated("commit", type=7), RejectCode.BAD_SCHEMA),
    # schema
    "bEmbedding value 256": (mutated("reveal", bEmbedding=index_keyed(list(bembedding_96()[:95]) + [256])), RejectCode.BAD_SCHEMA),
    "bEmbedding value -1": (mutated("reveal", bEmbedding=[-1] * 96), RejectCode.BAD_SCHEMA),
    "bEmbedding value true": (mutated("reveal", bEmbedding=[True] * 96), RejectCode.BAD_SCHEMA),
    "bEmbedding value 1.5": (mutated("reveal", bEmbedding=[1.5] * 96), RejectCode.BAD_SCHEMA),
    "bEmbedding empty": (mutated("reveal", bEmbedding=[]), RejectCode.BAD_SCHEMA),
    "bEmbedding a string": (mutated("reveal", bEmbedding="AAEC"), RejectCode.BAD_SCHEMA),
    "index-keyed object with a gap": (mutated("reveal", bEmbedding={"0": 1, "1": 2, "3": 4}), RejectCode.BAD_SCHEMA),
    "index-keyed object with '01'": (mutated("reveal", bEmbedding={"0": 1, "01": 2}), RejectCode.BAD_SCHEMA),
    "embedding with null (JS NaN)": (mutated("reveal", embedding=[0.1, None]), RejectCode.BAD_SCHEMA),
    "embedding overflow 1e400": (wire(dict(ALL["v2_reveal"], embedding=[0.5])).replace(b"[0.5]", b"[1e400]"), RejectCode.BAD_SCHEMA),
    "wrong-length quorum synthientId": (mutated("reveal_request", quorum=[{"inferenceId": "a.b", "synthientId": SID_A[:63], "bEmbeddingHash": HASH_1}]), RejectCode.BAD_SCHEMA),
    "wrong-length verifiedBy": (mutated("quorum_computed", verifiedBy=SID_A + "00"), RejectCode.BAD_SCHEMA),
    "uppercase hash": (mutated("commit", bEmbeddingHash=HASH_1.upper()), RejectCode.BAD_SCHEMA),
    "empty requestId": (mutated("commit", requestId=""), RejectCode.BAD_SCHEMA),
    "requestId with space": (mutated("commit", requestId="a b"), RejectCode.BAD_SCHEMA),
    "createdAt number": (mutated("commit", createdAt=1721913461123), RejectCode.BAD_SCHEMA),
    "quorum 0": (frame_with(quorum=0), RejectCode.BAD_SCHEMA),
    "quorum 10**9": (frame_with(quorum=10**9), RejectCode.BAD_SCHEMA),
    "quorum as string": (frame_with(quorum="3"), RejectCode.BAD_SCHEMA),
    "quorum as bool": (frame_with(quorum=True), RejectCode.BAD_SCHEMA),
    "quorum fractional": (frame_with(quorum=2.5), RejectCode.BAD_SCHEMA),
    "secPercentage 0": (frame_with(secPercentage=0), RejectCode.BAD_SCHEMA),
    "secPercentage 1.5": (frame_with(secPercentage=1.5), RejectCode.BAD_SCHEMA),
    "secDistance negative": (frame_with(secDistance=-1), RejectCode.BAD_SCHEMA),
    "maxTimeMs 0": (frame_with(maxTimeMs=0), RejectCode.BAD_SCHEMA),
    "maxTimeMs a week": (frame_with(maxTimeMs=7 * 86_400_000), RejectCode.BAD_SCHEMA),
    "bitTolerance above the bits": (frame_with(bitTolerance=10**6), RejectCode.BAD_SCHEMA),
    "missing securityFrame field": (frame_with(embeddingModel=None), RejectCode.BAD_SCHEMA),
    "no accepted models": (mutated("p2p_request", payload=dict(ALL["p2p_request"]["payload"], acceptedModels=[])), RejectCode.BAD_SCHEMA),
    "negative timeoutMs": (mutated("reveal_request", timeoutMs=-5), RejectCode.BAD_SCHEMA),
    "unknown reject reason": (mutated("reveal_rejected_hash", rejectReason={"type": "because"}), RejectCode.BAD_SCHEMA),
    "missing output": (envelope({k: v for k, v in ALL["reveal"].items() if k != "output"}), RejectCode.BAD_SCHEMA),
    "peerHeart infinite (dict)": (mutated("peer_heart", windowX=1e308 * 10), RejectCode.NOT_JSON),
    "tps negative": (mutated("status_completed", tps=-3), RejectCode.BAD_SCHEMA),
    "empty inferenceIds": (mutated("v2_reveal_missing", inferenceIds=[]), RejectCode.BAD_SCHEMA),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_rejected_with_its_code(name):
    data, code = HOSTILE[name]
    err = rejected(data)
    assert err.code is code, (err.code, err.detail)
    assert len(err.detail) <= 200


def test_schema_detail_names_the_field():
    assert "bEmbedding" in rejected(HOSTILE["bEmbedding value 256"][0]).detail
    assert "securityFrame.quorum" in rejected(frame_with(quorum=0)).detail
    assert "quorum.0.synthientId" in rejected(HOSTILE["wrong-length quorum synthientId"][0]).detail
    assert "output" in rejected(HOSTILE["oversized output"][0]).detail


def test_error_detail_does_not_echo_hostile_strings():
    err = rejected(mutated("commit", requestId="<script>" * 30))
    assert "<script>" not in err.detail


def test_limits_are_taken_from_the_argument():
    big = P.PacketLimits(max_packet_bytes=64 * 1024 * 1024)
    entry = ALL["reveal_request"]["quorum"][0]
    env = mutated("reveal_request", quorum=[entry] * 2000)
    assert rejected(env, big).detail.startswith("quorum")  # field limit, not total size
    assert rejected(env, big).code is RejectCode.TOO_LARGE
    roomy = P.PacketLimits(max_packet_bytes=64 * 1024 * 1024, max_quorum_entries=5000)
    assert len(P.decode_envelope(env, roomy).packet.quorum) == 2000
    tight = P.PacketLimits(max_text_chars=10)
    assert rejected(wire(ALL["reveal"]), tight).code is RejectCode.TOO_LARGE
    assert rejected(wire(ALL["commit"]), P.PacketLimits(max_depth=1)).code is RejectCode.TOO_DEEP
    assert rejected(wire(ALL["commit"]), P.PacketLimits(max_packet_bytes=100)).code is RejectCode.TOO_LARGE
    assert P.decode_envelope(wire(ALL["commit"]), P.PacketLimits(max_depth=2)).packet.request_id


def test_size_limit_is_inclusive_and_measured_in_utf8_bytes():
    data = wire(ALL["reveal"])  # contains multi-byte characters
    assert P.decode_envelope(data, P.PacketLimits(max_packet_bytes=len(data)))
    assert rejected(data, P.PacketLimits(max_packet_bytes=len(data) - 1)).code is RejectCode.TOO_LARGE
    text = data.decode()
    assert len(text) < len(data)
    assert rejected(text, P.PacketLimits(max_packet_bytes=len(data) - 1)).code is RejectCode.TOO_LARGE


def test_depth_limit_is_exact():
    # envelope(1) > packet(2) > extra: depth - 2 more levels
    for depth, ok in ((16, True), (17, False)):
        data = wire(dict(ALL["commit"], extra=deep(depth - 2)))
        as_dict = mutated("commit", extra=deep(depth - 2))
        for form in (data, as_dict):
            if ok:
                assert P.decode_envelope(form)
            else:
                assert rejected(form).code is RejectCode.TOO_DEEP


def test_decode_packet_validates_the_inner_packet_alone():
    assert type(P.decode_packet(ALL["commit"])) is P.InferenceCommit
    with pytest.raises(PacketRejected) as info:
        P.decode_packet(dict(ALL["commit"], bEmbeddingHash="x"))
    assert info.value.code is RejectCode.BAD_SCHEMA
    with pytest.raises(PacketRejected):
        P.decode_packet([ALL["commit"]])


def test_json_text_round_trips_through_the_stdlib_too():
    # pretty-printed JSON (whitespace) from a non-JS sender is accepted as well
    text = json.dumps(envelope(ALL["known_peers"]), indent=2)
    assert P.decode_envelope(text).packet.peer_list[0].synthient_id == SID_A


def test_decoding_a_dict_does_not_modify_it():
    env = envelope(copy.deepcopy(ALL["reveal"]))
    before = copy.deepcopy(env)
    decoded = P.decode_envelope(env)
    assert env == before and decoded.raw_packet is env["packet"]
    assert list(env["packet"]["embedding"]) == [str(i) for i in range(768)]


@pytest.mark.parametrize("text", [
    "[" * 20 + '"' + '\\"' * 120_000,          # unterminated string full of escaped quotes
    '{"a":' * 17 + '"' * 200_000,                 # many empty strings after a deep prefix
    "[" * 17 + "1," * 120_000,
], ids=["escaped-quotes", "many-strings", "long-array"])
def test_pathological_text_is_rejected_in_linear_time(text):
    t0 = time.perf_counter()
    err = rejected(text)
    assert time.perf_counter() - t0 < 2.0  # quadratic scanning would take minutes
    assert err.code in (RejectCode.TOO_DEEP, RejectCode.NOT_JSON)


def test_a_packet_types_validator_is_built_on_its_first_decode_not_at_import():
    # Import is part of the page's boot on Pyodide; a fresh interpreter, since this session's
    # other tests have decoded every type already.
    code = (
        "import rakis_py.protocol.packets as P\n"
        "from tests.unit._packet_samples import envelope, v1_packets\n"
        "models = [P.SecurityFrame, *P.PEER_STATUSES.values(), P.PeerStatusOther, *P._OTHER_MODELS.values()]\n"
        "built = lambda: [m.__name__ for m in models if m.__pydantic_complete__]\n"
        "print(built())\n"
        "P.decode_envelope(envelope(v1_packets()['p2p_request']))\n"
        "print(built())\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "['P2PInferenceRequest']"]
