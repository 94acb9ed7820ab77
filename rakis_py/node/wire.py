"""Trystero 0.25's wire formats, without IO: what a non-browser peer must say to join a room.

Read from the Trystero 0.25.4 source (@trystero-p2p/core: crypto.mjs, strategy.mjs,
signal-handler.mjs, shared-peer.mjs, action-wire.mjs, room.mjs) and checked against Chromium
pages (tests/node). docs/cpython-node.md describes the whole protocol; in short:

- topics: `sha1(s)` is SHA-1 with each byte written in base 36, concatenated (not hex).
  root = sha1("Trystero@" + appId + "@" + roomId), a peer's own = sha1(rootPlain + "@" + selfId);
- signalling messages are JSON: `{peerId}` (an announcement on root, or "you offer" on a peer's
  topic), `{peerId, offerId, offer}`, `{peerId, offerId, answer}`, `{peerId, offerId, candidate}`;
  the offer/answer SDP and the candidate JSON are AES-GCM encrypted with
  key = SHA-256(password + ":" + appId + ":" + roomId), a 16-byte IV, written
  "b0,b1,...,b15$" + base64(ciphertext || tag);
- data channel "data": every message is a room frame [0x01, len_hi, len_lo, roomToken] + one
  action chunk (roomToken = hex SHA-256("Trystero:" + appId + ":" + roomId)); a presence frame is
  [0x02, present, len_hi, len_lo, roomToken]. An action chunk is
  [32-byte action name, NUL-padded][2-byte nonce][tag][progress][payload], tag =
  isLast | isMeta << 1 | isBinary << 2 | isJson << 3, at most 16 KiB per chunk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any, Optional

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..serve.trystero_names import nostr_kind, room_names, sha1_topic

__all__ = [
    "ACTION_CHUNK", "ActionMessage", "Reassembler", "RoomKeys", "SELF_ID_CHARS", "WireError",
    "decode_chunk", "encode_action", "js_json", "new_self_id", "nostr_kind", "presence_frame",
    "room_frame", "room_keys", "sha1_topic", "unwrap_frame",
]

SELF_ID_CHARS = "0123456789AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTtUuVvWwXxYyZz"
NAME_BYTES = 32              # action name field
HEADER = 36                  # name + nonce (2) + tag + progress
ACTION_CHUNK = 16 * 1024 - HEADER   # Trystero's chunkSize: payload bytes per chunk
ROOM_FRAME = 1
PRESENCE_FRAME = 2
# Bounds on what a peer may make us hold while a multi-chunk message assembles (Trystero has none;
# a packet is at most a few hundred KiB: rakis_py.protocol.packets.PacketLimits).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_PENDING = 64


class WireError(ValueError):
    """A frame or signal from a peer that does not parse (the peer's fault)."""


def js_json(value: Any) -> str:
    """JSON.stringify's shape: no spaces, non-ASCII kept (Nostr event ids hash this text)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def new_self_id() -> str:
    """Trystero's per-instance peer id: 20 characters of SELF_ID_CHARS."""
    return "".join(secrets.choice(SELF_ID_CHARS) for _ in range(20))


@dataclass(frozen=True)
class RoomKeys:
    """Everything derived from (appId, roomId, password) once per room."""

    app_id: str
    room_id: str
    root_plain: str
    root_topic: str
    room_token: str
    key: bytes

    def peer_topic(self, self_id: str) -> str:
        return sha1_topic(f"{self.root_plain}@{self_id}")

    def encrypt(self, plaintext: str) -> str:
        iv = secrets.token_bytes(16)
        sealed = AESGCM(self.key).encrypt(iv, plaintext.encode(), None)
        return ",".join(str(b) for b in iv) + "$" + base64.b64encode(sealed).decode()

    def decrypt(self, text: str) -> str:
        try:
            iv_text, _, sealed = text.partition("$")
            iv = bytes(int(x) for x in iv_text.split(","))
            return AESGCM(self.key).decrypt(iv, base64.b64decode(sealed), None).decode()
        except Exception as e:  # noqa: BLE001 - any malformed or foreign signal is the peer's fault
            raise WireError(f"undecryptable signal ({type(e).__name__})") from None


def room_keys(topic: str, password: str = "") -> RoomKeys:
    """The page's room for a network name (appId = topic, roomId = topic + "T")."""
    app_id, room_id = room_names(topic)
    root_plain = f"Trystero@{app_id}@{room_id}"
    return RoomKeys(app_id, room_id, root_plain, sha1_topic(root_plain),
                    hashlib.sha256(f"Trystero:{app_id}:{room_id}".encode()).hexdigest(),
                    hashlib.sha256(f"{password}:{app_id}:{room_id}".encode()).digest())


# -- data channel frames ----------------------------------------------------------------------

def room_frame(room_token: str, chunk: bytes) -> bytes:
    token = room_token.encode()
    return bytes([ROOM_FRAME, len(token) >> 8, len(token) & 255]) + token + chunk


def presence_frame(room_token: str, present: bool) -> bytes:
    token = room_token.encode()
    return bytes([PRESENCE_FRAME, int(present), len(token) >> 8, len(token) & 255]) + token


def unwrap_frame(data: bytes) -> tuple[str, str, Any]:
    """("room", token, chunk bytes) or ("presence", token, present: bool); WireError otherwise."""
    if len(data) >= 3 and data[0] == ROOM_FRAME:
        n = data[1] << 8 | data[2]
        if n > 0 and len(data) >= 3 + n:
            return "room", data[3:3 + n].decode(errors="replace"), data[3 + n:]
    if len(data) >= 4 and data[0] == PRESENCE_FRAME:
        n = data[2] << 8 | data[3]
        if n > 0 and len(data) >= 4 + n:
            return "presence", data[4:4 + n].decode(errors="replace"), data[1] == 1
    raise WireError("not a Trystero room frame")


def encode_action(name: str, value: Any, nonce: int) -> list[bytes]:
    """The chunks of one action message. str travels as text, bytes as binary, the rest as JSON
    (Trystero's rule: isJson = typeof data !== "string")."""
    raw_name = name.encode()
    if len(raw_name) > NAME_BYTES:
        raise ValueError(f"action name {name!r} is longer than {NAME_BYTES} bytes")
    is_binary = isinstance(value, (bytes, bytearray))
    is_json = not is_binary and not isinstance(value, str)
    body = bytes(value) if is_binary else (js_json(value) if is_json else value).encode()
    total = max(1, math.ceil(len(body) / ACTION_CHUNK))
    padded = raw_name.ljust(NAME_BYTES, b"\0")
    chunks = []
    for i in range(total):
        last = i == total - 1
        tag = int(last) | int(is_binary) << 2 | int(is_json) << 3
        progress = round((i + 1) / total * 255)
        head = padded + bytes([nonce >> 8 & 255, nonce & 255, tag, progress])
        chunks.append(head + body[i * ACTION_CHUNK:(i + 1) * ACTION_CHUNK])
    return chunks


@dataclass(frozen=True)
class ActionMessage:
    name: str
    value: Any          # str, bytes, or the parsed JSON value


def decode_chunk(chunk: bytes) -> tuple[str, int, int, bytes]:
    """(action name, nonce, tag, payload) of one chunk."""
    if len(chunk) < HEADER:
        raise WireError("action chunk shorter than its header")
    name = chunk[:NAME_BYTES].replace(b"\0", b"").decode(errors="replace")
    return name, chunk[32] << 8 | chunk[33], chunk[34], chunk[HEADER:]


class Reassembler:
    """Joins one peer's chunks into messages (per action name and nonce), bounded in memory."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], list[bytes]] = {}
        self._sizes: dict[tuple[str, int], int] = {}

    def feed(self, chunk: bytes) -> Optional[ActionMessage]:
        name, nonce, tag, payload = decode_chunk(chunk)
        key = (name, nonce)
        if tag & 2:                      # metadata chunk: rakis sends none; dropped
            return None
        if key not in self._parts and len(self._parts) >= MAX_PENDING:
            raise WireError("too many unfinished messages from one peer")
        parts = self._parts.setdefault(key, [])
        parts.append(payload)
        self._sizes[key] = self._sizes.get(key, 0) + len(payload)
        if self._sizes[key] > MAX_MESSAGE_BYTES:
            self._parts.pop(key)
            self._sizes.pop(key)
            raise WireError(f"message on {name!r} exceeds {MAX_MESSAGE_BYTES} bytes")
        if not tag & 1:
            return None
        body = b"".join(self._parts.pop(key))
        self._sizes.pop(key)
        if tag & 4:
            return ActionMessage(name, body)
        text = body.decode(errors="replace")
        if tag & 8:
            try:
                return ActionMessage(name, json.loads(text))
            except ValueError:
                raise WireError(f"bad JSON on action {name!r}") from None
        return ActionMessage(name, text)
