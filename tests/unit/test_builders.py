"""Builders reproduce v1's packets byte for byte (field order included) and always decode."""

from __future__ import annotations

import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol import builders as B
from rakis_py.protocol import packets as P
from rakis_py.protocol.canonical import js_stringify
from rakis_py.protocol.consensus import CommitEntry
from rakis_py.protocol.errors import PacketRejected
from rakis_py.protocol.identity import Identity, verify_packet
from tests.unit import jsnode
from tests.unit._packet_samples import (
    CREATED, HASH_1, HASH_2, MODEL, NOMIC, SID_A, SID_B, bembedding_96, embedding_768,
    v1_packets, v2_packets,
)

V1, V2 = v1_packets(), v2_packets()
BOB = Identity.from_private_key(bytes(range(100, 132)))


def built() -> dict[str, dict]:
    """The sample packets, made by the builders from their values."""
    req, v2req = V1["p2p_request"], V2["v2_request"]
    peers = V1["known_peers"]["peerList"]
    ident = V1["peer_connected_chain"]["identities"][0]
    q = V1["reveal_request"]["quorum"]
    qc = V1["quorum_computed"]
    return {
        "status_boot": B.peer_status_update("boot", CREATED, total_tokens=1234),
        "status_loaded_worker": B.peer_status_update("loaded_worker", CREATED, model_name=MODEL,
                                                     total_workers=2),
        "status_inferencing": B.peer_status_update("inferencing", CREATED, model_name=MODEL),
        "status_completed": B.peer_status_update("completed_inference", CREATED, total_tokens=99,
                                                 tps=12.345678901234567, model_name=MODEL),
        "status_embedding": B.peer_status_update("computing_bEmbeddingHash", CREATED,
                                                 embedding_models=(NOMIC,)),
        "peer_heart": B.peer_heart(0.5, 0.25, CREATED),
        "peer_info": B.peer_info("Mozilla/5.0 (X11; Linux x86_64)", CREATED),
        "peer_connected_chain": B.peer_connected_chain(
            [B.chain_identity(ident["address"], ident["chain"], ident["signedWithWallet"],
                              ident["synthientIdSignature"])], CREATED),
        "known_peers": B.known_peers([
            B.known_peer_entry(SID_A, 2, 5000, CREATED, ["nostr", "torrent"], identities=[]),
            B.known_peer_entry(SID_B, None, 0, peers[1]["lastSeen"], []),
        ], CREATED),
        "p2p_request": B.p2p_inference_request(
            "AbCdEfGhIj", req["payload"]["prompt"], [MODEL],
            B.security_frame(3, 30000, 4500, 0.5), CREATED),
        "commit": B.inference_commit(HASH_1, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", CREATED),
        "reveal_request": B.inference_reveal_request(
            "AbCdEfGhIj",
            [q[0], CommitEntry(q[1]["inferenceId"], q[1]["synthientId"], q[1]["bEmbeddingHash"])],
            35000, CREATED),
        "reveal": B.inference_reveal(SID_B, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", V1["reveal"]["output"],
                                     bembedding_96(), embedding_768(), CREATED, v1_typed_arrays=True),
        "reveal_rejected_threshold": B.inference_reveal_rejected(
            "AbCdEfGhIj", "AbCdEfGhIj.QqQqQq",
            B.reject_reason_threshold(bembedding_96(), bembedding_96(8), v1_typed_arrays=True),
            CREATED),
        "reveal_rejected_hash": B.inference_reveal_rejected(
            "AbCdEfGhIj", "AbCdEfGhIj.QqQqQq",
            B.reject_reason_hash_mismatch(HASH_1, HASH_2, bembedding_96(), v1_typed_arrays=True),
            CREATED),
        "quorum_computed": B.inference_quorum_computed(
            "AbCdEfGhIj", SID_A, ["AbCdEfGhIj.xYzAbC", "AbCdEfGhIj.QqQqQq"], ["AbCdEfGhIj.xYzAbC"],
            HASH_2, qc["validSingleInference"]["output"], SID_A, HASH_1, CREATED),
        "v2_request": B.p2p_inference_request(
            "v2req", "hi", [MODEL, "other-model"],
            B.security_frame(5, 20000, 40, 0.6, NOMIC, protocol=2, reveal_window_ms=8000,
                             consensus_window_ms=6000, commit_grace_ms=1500, bit_tolerance=12,
                             embedding_model_hash=HASH_1, publishers=3),
            CREATED, temperature=0.7, max_tokens=256),
        "v2_reveal_request": B.inference_reveal_request(
            "v2req", V2["v2_reveal_request"]["quorum"], 8000, CREATED, protocol=2, rank=1),
        "v2_reveal": B.inference_reveal(SID_B, "v2req", "v2req.aaaaaa", "ok", bembedding_96(3),
                                        None, CREATED),
        "v2_quorum_computed": B.inference_quorum_computed(
            "v2req", SID_A, ["v2req.aaaaaa"], ["v2req.aaaaaa"], HASH_2, "ok", SID_A, HASH_1,
            CREATED, protocol=2, commit_set_hash=HASH_1),
        "v2_reveal_missing": B.inference_reveal_missing(
            "v2req", iter(["v2req.aaaaaa", "v2req.bbbbbb"]), CREATED),
    }


BUILT = built()


def test_every_sample_has_a_builder():
    assert set(BUILT) == set(V1) | set(V2)
    assert {p["type"] for p in BUILT.values()} == P.PACKET_TYPES


@pytest.mark.parametrize("name", sorted(BUILT))
def test_builder_output_is_byte_identical_to_the_v1_shape(name):
    expected = {**V1, **V2}[name]
    assert BUILT[name] == expected
    assert list(BUILT[name]) == list(expected)  # field order, which the signature covers
    assert js_stringify(BUILT[name]) == js_stringify(expected)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_builder_output_decodes_signed_and_verifies(name):
    env = BOB.envelope(BUILT[name])
    decoded = P.decode_envelope(P.encode_envelope(env))
    assert decoded.type == BUILT[name]["type"]
    assert verify_packet(decoded.synthient_id, decoded.signature, decoded.raw_packet)
    assert type(P.decode_packet(BUILT[name])) is type(decoded.packet)


def test_spec_field_orders():
    # spec §4, literally
    assert list(BUILT["commit"]) == ["type", "bEmbeddingHash", "requestId", "inferenceId", "createdAt"]
    assert list(BUILT["reveal"]) == ["createdAt", "type", "requestedSynthientId", "requestId",
                                     "inferenceId", "output", "embedding", "bEmbedding"]
    assert list(BUILT["reveal_request"]) == ["createdAt", "type", "requestId", "quorum", "timeoutMs"]
    assert list(BUILT["status_loaded_worker"]) == ["type", "status", "totalWorkers", "createdAt", "modelName"]
    assert list(BUILT["status_completed"]) == ["type", "status", "modelName", "tps", "totalTokens", "createdAt"]
    assert list(BUILT["reveal_rejected_hash"]["rejectReason"]) == [
        "type", "computedBEmbeddingHash", "revealedBEmbeddingHash", "revealedBEmbedding"]
    assert list(BUILT["quorum_computed"]) == [
        "type", "createdAt", "requestId", "verifiedBy", "submittedInferences", "validInferences",
        "validInferenceJointHash", "validSingleInference"]
    assert list(BUILT["p2p_request"]["payload"]) == [
        "fromChain", "blockNumber", "createdAt", "prompt", "acceptedModels", "temperature",
        "maxTokens", "securityFrame"]


def test_v1_reveal_floats_are_float32_as_javascript_prints_them():
    # spec §2.2: JSON.stringify(new Float32Array([0.000032, 1e-7]))
    p = B.inference_reveal(SID_B, "r", "r.x", "o", b"\x01", [0.000032, 1e-7], CREATED, v1_typed_arrays=True)
    assert '"embedding":{"0":0.00003199999991920777,"1":1.0000000116860974e-7}' in js_stringify(p)
    assert '"bEmbedding":{"0":1}' in js_stringify(p)
    v2 = B.inference_reveal(SID_B, "r", "r.x", "o", b"\x01", [0.000032], CREATED)
    assert v2["embedding"] == [0.00003199999991920777] and v2["bEmbedding"] == [1]


def test_v1_reveal_requires_the_float_embedding():
    with pytest.raises(ValueError):
        B.inference_reveal(SID_B, "r", "r.x", "o", b"\x01", None, CREATED, v1_typed_arrays=True)


def test_peer_status_update_checks_the_fields_of_known_statuses():
    with pytest.raises(TypeError):
        B.peer_status_update("boot", CREATED)
    with pytest.raises(TypeError):
        B.peer_status_update("inferencing", CREATED, model_name=MODEL, tps=3)
    other = B.peer_status_update("warming_up", CREATED, gpu_name="x", load=0.5)
    assert list(other) == ["type", "status", "gpuName", "load", "createdAt"]
    assert type(P.decode_packet(other)) is P.PeerStatusOther


def test_builders_do_not_alias_their_inputs():
    frame = B.security_frame(3, 30000, 4500, 0.5)
    models = [MODEL]
    p = B.p2p_inference_request("r", "p", models, frame, CREATED)
    frame["quorum"], models[0] = 99, "x"
    assert p["payload"]["securityFrame"]["quorum"] == 3
    assert p["payload"]["acceptedModels"] == [MODEL]


def test_invalid_builder_arguments_are_caught_by_the_decoder():
    with pytest.raises(PacketRejected):
        P.decode_packet(B.inference_commit("nothex", "r", "r.x", CREATED))
    with pytest.raises(PacketRejected):
        P.decode_packet(B.p2p_inference_request("r", "p", [MODEL], B.security_frame(0, 30000, 1, 0.5), CREATED))


ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
texts = st.text(max_size=300)


@settings(max_examples=150, deadline=None)
@given(sid=hexes, rid=ids, iid=ids, output=texts, bemb=st.binary(min_size=1, max_size=96),
       emb=st.none() | st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=64),
       v1=st.booleans())
def test_any_valid_reveal_round_trips(sid, rid, iid, output, bemb, emb, v1):
    if v1 and emb is None:
        emb = [0.0]
    p = B.inference_reveal(sid, rid, iid, output, bemb, emb, CREATED, v1_typed_arrays=v1)
    env = BOB.envelope(p)
    d = P.decode_envelope(P.encode_envelope(env))
    assert verify_packet(d.synthient_id, d.signature, d.raw_packet)
    r = d.packet
    assert (r.requested_synthient_id, r.request_id, r.inference_id, r.output, r.b_embedding) == (
        sid, rid, iid, output, bemb)
    assert r.embedding == (None if emb is None else tuple(emb))


@settings(max_examples=100, deadline=None)
@given(rid=ids, entries=st.lists(st.tuples(ids, hexes, hexes), max_size=30), timeout=st.integers(0, 3_600_000),
       rank=st.none() | st.integers(0, 1024))
def test_any_valid_reveal_request_round_trips(rid, entries, timeout, rank):
    commits = [CommitEntry(i, s, h) for i, s, h in entries]
    p = B.inference_reveal_request(rid, commits, timeout, CREATED, protocol=2 if rank is not None else None, rank=rank)
    r = P.decode_packet(p)
    assert [(q.inference_id, q.synthient_id, q.b_embedding_hash) for q in r.quorum] == entries
    assert (r.timeout_ms, r.rank) == (timeout, rank)


# --- against JavaScript itself -------------------------------------------------------------

@pytest.mark.skipif(jsnode.NODE is None, reason="node is not on PATH: cannot compare with JavaScript")
def test_v1_reveal_matches_what_javascript_builds_and_verifies():
    rng = random.Random(5)
    emb = [rng.gauss(0, 0.05) for _ in range(768)] + [0.000032, 1e-7, -0.0, 3.0]  # raw doubles
    bemb = bytes(rng.randrange(256) for _ in range(96))
    output = "line\n\t“quoted” \u2028 🍂 \x01"
    fields = [CREATED, SID_B, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", output]
    ours = B.inference_reveal(SID_B, "AbCdEfGhIj", "AbCdEfGhIj.xYzAbC", output, bemb, emb, CREATED,
                              v1_typed_arrays=True)
    # v1 builds the reveal at inferencedb.ts:435-444 with typed arrays; a v1 verifier re-stringifies
    # whatever it parsed.
    js = jsnode.run_node(r"""
      const [createdAt, requestedSynthientId, requestId, inferenceId, output] = input.fields;
      const packet = {createdAt, type: "inferenceReveal", requestedSynthientId, requestId, inferenceId,
                      output, embedding: new Float32Array(input.emb), bEmbedding: new Uint8Array(input.bemb)};
      console.log(utf8hex(JSON.stringify(packet)));
      console.log(utf8hex(JSON.stringify(JSON.parse(input.ours))));
    """, {"fields": fields, "emb": emb, "bemb": list(bemb), "ours": js_stringify(ours)})
    js_built, js_reparsed = (bytes.fromhex(h).decode() for h in js.split("\n")[:2])
    assert js_stringify(ours) == js_built
    assert js_reparsed == js_built  # what a v1 node verifies our signature against
    decoded = P.decode_envelope(('{"synthientId":"%s","signature":"%s","packet":%s}' % (SID_B, "ab" * 64, js_built)).encode())
    assert decoded.packet.b_embedding == bemb
    assert decoded.packet.embedding == tuple(array("f", emb).tolist())
