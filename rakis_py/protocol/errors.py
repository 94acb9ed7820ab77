"""The one exception type the decoder and validators raise for untrusted input."""

from __future__ import annotations

from enum import Enum

__all__ = ["RejectCode", "PacketRejected"]


class RejectCode(str, Enum):
    """Why an incoming packet was refused. Stable strings: they are logged and exported."""

    NOT_JSON = "not_json"                    # bytes are not UTF-8 JSON
    TOO_LARGE = "too_large"                  # packet or a field over its size limit
    TOO_DEEP = "too_deep"                    # nesting deeper than allowed
    BAD_ENVELOPE = "bad_envelope"            # envelope missing/extra/ill-typed fields
    BAD_SCHEMA = "bad_schema"                # inner packet fails its schema
    UNKNOWN_TYPE = "unknown_type"            # packet type we do not know (ignored, not hostile)
    BAD_SIGNATURE = "bad_signature"          # signature does not verify
    DUPLICATE = "duplicate"                  # (synthientId, signature) already seen
    REPLAY = "replay"                        # createdAt outside the accepted window
    BAD_TIMESTAMP = "bad_timestamp"          # createdAt unparseable
    OWN_ECHO = "own_echo"                    # our own packet coming back
    UNKNOWN_REQUEST = "unknown_request"      # refers to a request we never saw
    LATE = "late"                            # arrived after its phase closed
    NOT_IN_QUORUM = "not_in_quorum"          # reveal/commit for a commit set it is not part of
    MISMATCH = "mismatch"                    # e.g. verifiedBy != sender, reveal hash != commit
    CONFLICT = "conflict"                    # contradicts an earlier packet from the same sender


class PacketRejected(Exception):
    """Raised for any untrusted input we refuse. Carries a machine code and a human detail."""

    def __init__(self, code: RejectCode, detail: str = "") -> None:
        self.code = RejectCode(code)
        self.detail = detail
        super().__init__(f"{self.code.value}: {detail}" if detail else self.code.value)
