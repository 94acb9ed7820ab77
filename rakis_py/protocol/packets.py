"""Packet schemas (v1 spec §4 plus the v2 additions of docs/core-api.md) and the untrusted-input decoder.

Everything a peer sends passes through `decode_envelope` first. It checks, cheapest first: total
size, nesting depth and JSON syntax (`untrusted_json`), the envelope shape, the packet `type`,
then the packet's schema (with per-field size limits from `PacketLimits`). It raises
`PacketRejected` and nothing else.

Models are frozen, use snake_case attributes with the wire's camelCase names as aliases, and
ignore unknown fields: a newer node's optional fields must not make us drop its packet. Ignored
fields are still part of `Envelope.raw_packet`, which is what the signature is checked against.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    AfterValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from .canonical import js_stringify
from .errors import PacketRejected, RejectCode
from .untrusted_json import check_json_tree, load_json

__all__ = [
    "PacketLimits", "DEFAULT_LIMITS", "Envelope", "Packet", "PACKET_TYPES", "PEER_STATUSES",
    "decode_envelope", "decode_packet", "encode_envelope",
    "ChainIdentity", "KnownPeerEntry", "SecurityFrame", "InferencePayload", "QuorumEntry",
    "InferenceRef", "SingleInference", "RejectReasonThreshold", "RejectReasonHashMismatch",
    "PeerStatusUpdate", "PeerStatusBoot", "PeerStatusLoadedWorker", "PeerStatusInferencing",
    "PeerStatusCompletedInference", "PeerStatusComputingBEmbeddingHash",
    "PeerStatusVerifyingQuorum", "PeerStatusOther", "PeerHeart", "PeerInfo", "PeerConnectedChain",
    "KnownPeers", "P2PInferenceRequest", "InferenceCommit", "InferenceRevealRequest",
    "InferenceReveal", "InferenceRevealRejected", "InferenceQuorumComputed",
    "InferenceRevealMissing",
]

MAX_SAFE_INT = 2**53  # JS numbers above this are not exact integers


@dataclass(frozen=True)
class PacketLimits:
    """Upper bounds applied to untrusted packets. Defaults leave ample room above what v1 sends."""

    # Whole envelope as UTF-8 JSON. A v1 reveal (768 floats, 96 bytes, a 2048-token output) is
    # about 20-40 KiB; v1 knownPeers (at most 200 peers) stays under 100 KiB.
    max_packet_bytes: int = 256 * 1024
    # Nested objects/arrays, the envelope itself counting 1. v1's deepest packet (knownPeers with
    # chain identities) reaches 6; the bound also keeps the JSON parser's recursion shallow.
    max_depth: int = 16
    # `prompt` and `output` strings, in characters (v1's UI cuts prompts at 4000 characters;
    # 2048 tokens of output are ~10k characters).
    max_text_chars: int = 65_536
    # Any other string (createdAt, model names, chain data, deviceInfo, ...), in characters.
    max_string_chars: int = 1_024
    # requestId / inferenceId (v1: 10 letters, +7 for inference ids, fallback ids 73 characters).
    max_id_chars: int = 128
    # Commit lists (quorum, submitted/validInferences, inferenceIds); also the upper bound of
    # securityFrame.quorum, publishers, maxCommits and rank.
    max_quorum_entries: int = 1_024
    # knownPeers.peerList entries (v1 sends at most 200).
    max_peer_list: int = 1_000
    # Short lists: acceptedModels, embeddingModels, identities, seenOn.
    max_small_list: int = 64
    # Float embedding length (nomic-embed-text-v1.5: 768).
    max_embedding_dims: int = 4_096
    # Packed binary embedding length in bytes (nomic: 96); bitTolerance is bounded by 8x this.
    max_bembedding_bytes: int = 512
    # maxTimeMs, timeoutMs and the v2 windows (v1 uses 30 s / 35 s / 40 s).
    max_duration_ms: int = 3_600_000


DEFAULT_LIMITS = PacketLimits()


# --- field validators ---------------------------------------------------------------------

def _limits(info: ValidationInfo) -> PacketLimits:
    ctx = info.context
    if isinstance(ctx, dict):
        limits = ctx.get("limits")
        if isinstance(limits, PacketLimits):
            return limits
    return DEFAULT_LIMITS


def _too_large(limit: int) -> PydanticCustomError:
    # Error type "too_large" maps to RejectCode.TOO_LARGE in the decoder.
    return PydanticCustomError("too_large", "longer than the limit of {limit}", {"limit": limit})


def _max_len(attr: str) -> BeforeValidator:
    """Length bound read from the PacketLimits in the validation context, checked before the
    (possibly costly) validation of the items."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, (str, list, tuple, dict)):
            limit = getattr(_limits(info), attr)
            if len(value) > limit:
                raise _too_large(limit)
        return value

    return BeforeValidator(check)


def _max_value(attr: str, factor: int = 1) -> AfterValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            limit = getattr(_limits(info), attr) * factor
            if value > limit:
                raise PydanticCustomError(
                    "out_of_range", "must be at most {limit}", {"limit": limit})
        return value

    return AfterValidator(check)


_INDEX_KEYS = [str(i) for i in range(8192)]


def _typed_array_items(value: Any, limit: int) -> list:
    """A JSON array, or the object JS `JSON.stringify` makes of a typed array: keys exactly
    "0".."n-1" in any order. Returns the items in index order."""
    if isinstance(value, dict):
        n = len(value)
        if n > limit:
            raise _too_large(limit)
        keys = _INDEX_KEYS[:n] if n <= len(_INDEX_KEYS) else [str(i) for i in range(n)]
        try:
            return [value[k] for k in keys]
        except (KeyError, TypeError):
            # n keys, and "0".."n-1" not all among them: a gap, a duplicate-looking key ("01")...
            raise PydanticCustomError(
                "typed_array", "index-keyed object must have keys exactly '0'..'n-1'") from None
    if isinstance(value, (list, tuple)):
        if len(value) > limit:
            raise _too_large(limit)
        return list(value)
    raise PydanticCustomError("typed_array", "expected an array or an index-keyed object")


def _to_bytes(value: Any, info: ValidationInfo) -> bytes:
    items = _typed_array_items(value, _limits(info).max_bembedding_bytes)
    # bool is an int subclass: only exact ints (JSON integers) are byte values.
    if not all(type(x) is int for x in items):
        raise PydanticCustomError("byte_value", "values must be integers 0..255")
    try:
        return bytes(items)
    except ValueError:
        raise PydanticCustomError("byte_value", "values must be integers 0..255") from None


def _to_floats(value: Any, info: ValidationInfo) -> tuple:
    items = _typed_array_items(value, _limits(info).max_embedding_dims)
    out = []
    for x in items:
        t = type(x)
        if t is int:
            x = float(x)
        elif t is not float or not math.isfinite(x):
            # JS turns NaN/Infinity into null; anything but a finite number is refused.
            raise PydanticCustomError("float_value", "values must be finite numbers")
        out.append(x)
    return tuple(out)


# --- reusable field types -----------------------------------------------------------------

Str = Annotated[str, Strict(), _max_len("max_string_chars")]
Text = Annotated[str, Strict(), _max_len("max_text_chars")]
# Ids become storage keys and log lines: printable ASCII, no spaces.
Id = Annotated[
    str, StringConstraints(strict=True, min_length=1, pattern=r"^[!-~]+$"), _max_len("max_id_chars")]
Hex64 = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
Hex128 = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{128}$")]
BEmbedding = Annotated[bytes, Strict(), BeforeValidator(_to_bytes)]
Embedding = Annotated[tuple[float, ...], BeforeValidator(_to_floats)]
# Non-negative finite number (ints become floats): statistics, temperature, distances.
Stat = Annotated[float, Strict(), Field(ge=0, le=1e15, allow_inf_nan=False)]
Coord = Annotated[float, Strict(), Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_SAFE_INT)]
DurationMs = Annotated[int, Strict(), Field(ge=0), _max_value("max_duration_ms")]
PositiveDurationMs = Annotated[int, Strict(), Field(gt=0), _max_value("max_duration_ms")]
QuorumSize = Annotated[int, Strict(), Field(ge=1), _max_value("max_quorum_entries")]
Rank = Annotated[int, Strict(), Field(ge=0), _max_value("max_quorum_entries")]
ProtocolVersion = Annotated[int, Strict(), Field(ge=1, le=1_000)]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="ignore",            # forward compatibility; extras stay in Envelope.raw_packet
        alias_generator=_camel,
        hide_input_in_errors=True,  # error texts must not echo hostile input
        protected_namespaces=(),    # `model_name` is a v1 field, not a pydantic attribute
        # Each model's validator is built on its first use, not at import: building all of them
        # took ~0.5 s of the page's boot on Pyodide, and some packet types are rare.
        defer_build=True,
    )


# --- nested objects -----------------------------------------------------------------------

class ChainIdentity(_Model):
    """An EVM address bound to a synthientId (v1 spec §2.5)."""
    chain: Str
    address: Str
    synthient_id_signature: Str
    signed_with_wallet: Str


class KnownPeerEntry(_Model):
    synthient_id: Hex64
    identities: Annotated[Optional[tuple[ChainIdentity, ...]], _max_len("max_small_list")] = None
    # v1 may send null here (NaN totals for gossip-only peers, v1 spec §15.17).
    total_workers: Optional[Stat] = None
    total_tokens: Optional[Stat] = None
    last_seen: Str
    seen_on: Annotated[tuple[Str, ...], _max_len("max_small_list")] = ()


class SecurityFrame(_Model):
    quorum: QuorumSize
    max_time_ms: PositiveDurationMs
    sec_distance: Stat              # v1: Euclidean over packed bytes (UI sends 4500); v2: bits
    sec_percentage: Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]
    embedding_model: Str
    # v2 additions (absent from v1 requests)
    protocol: Optional[ProtocolVersion] = None
    reveal_window_ms: Optional[DurationMs] = None
    consensus_window_ms: Optional[DurationMs] = None
    commit_grace_ms: Optional[DurationMs] = None
    bit_tolerance: Annotated[
        Optional[Annotated[int, Strict(), Field(ge=0)]], _max_value("max_bembedding_bytes", 8)
    ] = None
    embedding_model_hash: Optional[Hex64] = None
    publishers: Optional[QuorumSize] = None
    max_commits: Optional[QuorumSize] = None      # largest agreed commit set (>= quorum)


class InferencePayload(_Model):
    from_chain: Str
    block_number: Count
    created_at: Str
    prompt: Text
    accepted_models: Annotated[tuple[Str, ...], Field(min_length=1), _max_len("max_small_list")]
    temperature: Stat
    max_tokens: Count
    security_frame: SecurityFrame


class QuorumEntry(_Model):
    inference_id: Id
    synthient_id: Hex64
    b_embedding_hash: Hex64


class InferenceRef(_Model):
    inference_id: Id


class SingleInference(_Model):
    output: Text
    from_synthient_id: Hex64
    b_embedding_hash: Hex64


class RejectReasonThreshold(_Model):
    type: Literal["computed_bembedding_fails_threshold"]
    computed_b_embedding: BEmbedding
    revealed_b_embedding: BEmbedding


class RejectReasonHashMismatch(_Model):
    type: Literal["bembedding_hash_mismatch"]
    computed_b_embedding_hash: Hex64
    revealed_b_embedding_hash: Hex64
    revealed_b_embedding: BEmbedding


# --- packets (v1 spec §4) --------------------------------------------------------------------

class PeerStatusUpdate(_Model):
    """Common base of the status variants; `PeerStatusOther` holds statuses we do not know."""
    type: Literal["peerStatusUpdate"]
    status: Str
    created_at: Str


class PeerStatusBoot(PeerStatusUpdate):
    status: Literal["boot"]
    total_tokens: Optional[Stat] = None


class PeerStatusLoadedWorker(PeerStatusUpdate):
    status: Literal["loaded_worker"]
    total_workers: Optional[Stat] = None
    model_name: Str


class PeerStatusInferencing(PeerStatusUpdate):
    status: Literal["inferencing"]
    model_name: Str


class PeerStatusCompletedInference(PeerStatusUpdate):
    status: Literal["completed_inference"]
    model_name: Str
    tps: Optional[Stat] = None           # v1 divides by a duration that may be 0: null on the wire
    total_tokens: Optional[Stat] = None


class PeerStatusComputingBEmbeddingHash(PeerStatusUpdate):
    status: Literal["computing_bEmbeddingHash"]
    embedding_models: Annotated[tuple[Str, ...], _max_len("max_small_list")]


class PeerStatusVerifyingQuorum(PeerStatusUpdate):
    status: Literal["verifying quorum"]  # declared by v1, never sent
    request_id: Id


class PeerStatusOther(PeerStatusUpdate):
    """A status this version does not know (a newer node's): kept, carries nothing we use."""


class PeerHeart(_Model):
    type: Literal["peerHeart"]
    window_x: Coord
    window_y: Coord
    created_at: Str


class PeerInfo(_Model):
    type: Literal["peerInfo"]
    device_info: Str
    created_at: Str


class PeerConnectedChain(_Model):
    type: Literal["peerConnectedChain"]
    created_at: Str
    identities: Annotated[tuple[ChainIdentity, ...], _max_len("max_small_list")]


class KnownPeers(_Model):
    type: Literal["knownPeers"]
    peer_list: Annotated[tuple[KnownPeerEntry, ...], _max_len("max_peer_list")]
    created_at: Str


class P2PInferenceRequest(_Model):
    type: Literal["p2pInferenceRequest"]
    request_id: Id
    payload: InferencePayload
    created_at: Str


class InferenceCommit(_Model):
    type: Literal["inferenceCommit"]
    b_embedding_hash: Hex64
    request_id: Id
    inference_id: Id
    created_at: Str


class InferenceRevealRequest(_Model):
    created_at: Str
    type: Literal["inferenceRevealRequest"]
    request_id: Id
    quorum: Annotated[tuple[QuorumEntry, ...], _max_len("max_quorum_entries")]
    timeout_ms: DurationMs
    protocol: Optional[ProtocolVersion] = None   # v2
    rank: Optional[Rank] = None                  # v2: coordinator rank, 0 = first


class InferenceReveal(_Model):
    created_at: Str
    type: Literal["inferenceReveal"]
    requested_synthient_id: Hex64
    request_id: Id
    inference_id: Id
    output: Text
    embedding: Optional[Embedding] = None         # v2 nodes leave it out
    b_embedding: Annotated[BEmbedding, Field(min_length=1)]


class InferenceRevealRejected(_Model):
    created_at: Str
    type: Literal["inferenceRevealRejected"]
    request_id: Id
    inference_id: Id
    reject_reason: Annotated[
        Union[RejectReasonThreshold, RejectReasonHashMismatch], Field(discriminator="type")]


class InferenceQuorumComputed(_Model):
    type: Literal["inferenceQuorumComputed"]
    created_at: Str
    request_id: Id
    verified_by: Hex64
    submitted_inferences: Annotated[tuple[InferenceRef, ...], _max_len("max_quorum_entries")]
    valid_inferences: Annotated[tuple[InferenceRef, ...], _max_len("max_quorum_entries")]
    valid_inference_joint_hash: Hex64
    valid_single_inference: SingleInference
    protocol: Optional[ProtocolVersion] = None   # v2
    commit_set_hash: Optional[Hex64] = None      # v2


class InferenceRevealMissing(_Model):
    """v2: "I lack these reveals"; holders re-send the original signed reveal envelopes."""
    type: Literal["inferenceRevealMissing"]
    request_id: Id
    inference_ids: Annotated[tuple[Id, ...], Field(min_length=1), _max_len("max_quorum_entries")]
    created_at: Str
    commit_set_hash: Optional[Hex64] = None      # the set the asker follows (optional)


PEER_STATUSES = {
    "boot": PeerStatusBoot,
    "loaded_worker": PeerStatusLoadedWorker,
    "inferencing": PeerStatusInferencing,
    "completed_inference": PeerStatusCompletedInference,
    "computing_bEmbeddingHash": PeerStatusComputingBEmbeddingHash,
    "verifying quorum": PeerStatusVerifyingQuorum,
}

_OTHER_MODELS = {
    "peerHeart": PeerHeart,
    "peerInfo": PeerInfo,
    "peerConnectedChain": PeerConnectedChain,
    "knownPeers": KnownPeers,
    "p2pInferenceRequest": P2PInferenceRequest,
    "inferenceCommit": InferenceCommit,
    "inferenceRevealRequest": InferenceRevealRequest,
    "inferenceReveal": InferenceReveal,
    "inferenceRevealRejected": InferenceRevealRejected,
    "inferenceQuorumComputed": InferenceQuorumComputed,
    "inferenceRevealMissing": InferenceRevealMissing,
}

PACKET_TYPES = frozenset({"peerStatusUpdate", *_OTHER_MODELS})


# Typing only: decoding picks the model itself (_packet_model), so no union validator is built.
Packet = Union[tuple(PEER_STATUSES.values()) + (PeerStatusOther,) + tuple(_OTHER_MODELS.values())]


def _packet_model(packet: dict) -> type[_Model]:
    """The model of a packet whose `type` is known: by `type`, refined by `status` for
    peerStatusUpdate (a status we do not know, or no string, goes to PeerStatusOther)."""
    t = packet["type"]
    if t != "peerStatusUpdate":
        return _OTHER_MODELS[t]
    status = packet.get("status")
    return PEER_STATUSES.get(status, PeerStatusOther) if isinstance(status, str) else PeerStatusOther


@dataclass(frozen=True)
class Envelope:
    """A decoded envelope. Its signature is NOT checked yet: verify `raw_packet` against it."""

    synthient_id: str
    signature: str
    packet: Packet       # the typed model (frozen)
    raw_packet: dict     # the inner packet as parsed (key order and typed-array objects kept)

    @property
    def type(self) -> str:
        return self.packet.type


# --- decoder ------------------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def _rejected(code: RejectCode, detail: str) -> PacketRejected:
    return PacketRejected(code, detail[:200])


def _schema_rejection(err: ValidationError) -> PacketRejected:
    errors = err.errors(include_url=False)
    first = next((e for e in errors if e["type"] == "too_large"), errors[0])
    code = RejectCode.TOO_LARGE if first["type"] == "too_large" else RejectCode.BAD_SCHEMA
    loc = ".".join(str(p) for p in first["loc"]) or "packet"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return _rejected(code, f"{loc}: {first['msg']}{more}")


def _validate_packet(packet: dict, limits: PacketLimits) -> Any:
    t = packet.get("type")
    if not isinstance(t, str):
        raise _rejected(RejectCode.BAD_SCHEMA, "type: missing or not a string")
    if t not in PACKET_TYPES:
        raise _rejected(RejectCode.UNKNOWN_TYPE, f"unknown packet type {t[:40]!r}")
    try:
        return _packet_model(packet).model_validate(packet, context={"limits": limits})
    except ValidationError as e:
        raise _schema_rejection(e) from None


def _load(data: Any, limits: PacketLimits) -> Any:
    """Raw input to parsed JSON, with size and depth checked before any deep work."""
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return load_json(data, limits.max_packet_bytes, limits.max_depth)
    if isinstance(data, dict):
        check_json_tree(data, limits.max_packet_bytes, limits.max_depth)
        return data
    if data is None or isinstance(data, (list, bool, int, float)):
        # JSON parsed by the transport, but not an object
        raise _rejected(RejectCode.BAD_ENVELOPE, f"envelope must be an object, not {type(data).__name__}")
    raise _rejected(RejectCode.NOT_JSON, f"cannot decode a {type(data).__name__}")


def _decode(data: Any, limits: PacketLimits) -> Envelope:
    obj = _load(data, limits)
    if not isinstance(obj, dict):
        raise _rejected(RejectCode.BAD_ENVELOPE, f"envelope must be an object, not {type(obj).__name__}")
    sid, sig, packet = obj.get("synthientId"), obj.get("signature"), obj.get("packet")
    if not isinstance(sid, str) or _HEX64.fullmatch(sid) is None:
        raise _rejected(RejectCode.BAD_ENVELOPE, "synthientId must be 64 lowercase hex digits")
    if not isinstance(sig, str) or _HEX128.fullmatch(sig) is None:
        raise _rejected(RejectCode.BAD_ENVELOPE, "signature must be 128 lowercase hex digits")
    if not isinstance(packet, dict):
        raise _rejected(RejectCode.BAD_ENVELOPE, "packet must be a JSON object")
    return Envelope(sid, sig, _validate_packet(packet, limits), packet)


def decode_envelope(data: Union[bytes, str, dict], limits: PacketLimits = DEFAULT_LIMITS) -> Envelope:
    """Decode an untrusted envelope (JSON bytes/str, or a dict a transport already parsed).

    Raises PacketRejected, and nothing else. Does not check the signature. A dict input is not
    copied: `raw_packet` is the caller's inner dict.
    """
    try:
        return _decode(data, limits)
    except PacketRejected:
        raise
    except RecursionError:
        raise _rejected(RejectCode.TOO_DEEP, "nesting too deep") from None
    except MemoryError:
        raise _rejected(RejectCode.TOO_LARGE, "out of memory while decoding") from None
    except Exception as e:  # a decoder bug must not take the node down; tests look for "internal"
        raise _rejected(RejectCode.BAD_SCHEMA, f"internal decoder error: {type(e).__name__}") from e


def decode_packet(packet: Any, limits: PacketLimits = DEFAULT_LIMITS) -> Any:
    """Validate an inner packet dict (no envelope) with the same checks; PacketRejected only."""
    try:
        if not isinstance(packet, dict):
            raise _rejected(RejectCode.BAD_SCHEMA, "packet must be a JSON object")
        check_json_tree(packet, limits.max_packet_bytes, limits.max_depth)
        return _validate_packet(packet, limits)
    except PacketRejected:
        raise
    except RecursionError:
        raise _rejected(RejectCode.TOO_DEEP, "nesting too deep") from None
    except Exception as e:
        raise _rejected(RejectCode.BAD_SCHEMA, f"internal decoder error: {type(e).__name__}") from e


def encode_envelope(envelope: dict) -> bytes:
    """Our own envelope as wire bytes: JS `JSON.stringify` form, UTF-8."""
    return js_stringify(envelope).encode("utf-8")
