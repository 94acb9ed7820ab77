"""Relay clients for Trystero's signalling: Nostr and MQTT, both over WebSocket.

Both give a room the same four calls: `subscribe(topic)`, `publish(topic, text)`, `state`, and the
`on_message(topic, text)` / `on_open()` callbacks. Each keeps its socket up for as long as it runs:
an unreachable relay is said once, clearly, then retried with exponential backoff (1 s doubling to
30 s, with jitter) and never in a busy loop; the first success after a failure is said too.

Nostr (@trystero-p2p/nostr): every topic is an ephemeral event of kind
20000 + (sum of the topic's char codes) % 10000 with tag ["x", topic], content the JSON message,
signed (BIP-340) with a key made per process; subscriptions are one REQ with `since` = now.
MQTT (@trystero-p2p/mqtt, mqtt.js): topics are MQTT topics, QoS 0, no retained messages; the
WebSocket subprotocol is "mqtt". This file holds the few MQTT 3.1.1 packets that needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
import struct
import time
from typing import Callable, Optional

import websockets

from .wire import js_json, new_self_id, nostr_kind

__all__ = ["MqttRelay", "NostrRelay", "Relay", "relay_for"]

log = logging.getLogger("rakis.node.relay")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
OPEN_TIMEOUT_S = 10.0


class Relay:
    """One relay socket kept open; subclasses speak the protocol."""

    channel = ""
    subprotocols: Optional[list[str]] = None

    def __init__(self, url: str) -> None:
        self.url = url
        self.state = "connecting"          # "connecting" | "open" | "down" | "closed"
        self.topics: set[str] = set()
        self.on_message: Callable[[str, str], None] = lambda topic, text: None
        self.on_open: Callable[[], None] = lambda: None
        self.failures = 0
        self.last_error: Optional[str] = None
        self._ws = None
        self._stop = asyncio.Event()

    # -- the room's calls ------------------------------------------------------------------

    def subscribe(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            if self.state == "open":
                asyncio.ensure_future(self._send_subscribe(sorted(self.topics)))

    def publish(self, topic: str, text: str) -> bool:
        """Queue `text` on `topic`; False when the socket is not open (the message is dropped,
        as Trystero drops it: announcements repeat, and signalling restarts on the next one)."""
        if self.state != "open" or self._ws is None:
            return False
        asyncio.ensure_future(self._publish(topic, text))
        return True

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; returns when close() is called."""
        delay = BACKOFF_FIRST_S
        while not self._stop.is_set():
            try:
                async with websockets.connect(self.url, subprotocols=self.subprotocols,
                                              open_timeout=OPEN_TIMEOUT_S, max_size=2 ** 22,
                                              ping_interval=20) as ws:
                    self._ws = ws
                    await self._handshake(ws)
                    if self.failures:
                        log.warning("%s relay %s is reachable again (after %d failed attempts)",
                                    self.channel, self.url, self.failures)
                    else:
                        log.info("%s relay %s connected", self.channel, self.url)
                    self.state, self.failures, delay = "open", 0, BACKOFF_FIRST_S
                    if self.topics:
                        await self._send_subscribe(sorted(self.topics))
                    self.on_open()
                    await self._serve(ws)
                    raise ConnectionError("connection closed by the relay")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - every failure means: wait, then retry
                self._ws = None
                if self._stop.is_set():
                    break
                self.state = "down"
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                wait = delay * random.uniform(0.75, 1.25)
                if self.failures == 1:
                    log.error("%s relay %s is unreachable (%s); retrying with backoff up to %.0f s",
                              self.channel, self.url, self.last_error, BACKOFF_MAX_S)
                else:
                    log.info("%s relay %s still unreachable (attempt %d: %s); next try in %.1f s",
                             self.channel, self.url, self.failures, self.last_error, wait)
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, BACKOFF_MAX_S)
        self.state = "closed"

    async def close(self) -> None:
        self._stop.set()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    # -- protocol hooks --------------------------------------------------------------------

    async def _handshake(self, ws) -> None:
        pass

    async def _serve(self, ws) -> None:
        async for message in ws:
            self._received(message)

    def _received(self, message) -> None:
        raise NotImplementedError

    async def _send_subscribe(self, topics: list[str]) -> None:
        raise NotImplementedError

    async def _publish(self, topic: str, text: str) -> None:
        raise NotImplementedError

    async def _send(self, data) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(data)
        except Exception as e:  # noqa: BLE001 - the run loop notices the closed socket
            log.debug("%s relay %s: send failed: %s", self.channel, self.url, e)


class NostrRelay(Relay):
    channel = "nostr"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        import coincurve
        self._key = coincurve.PrivateKey()
        self.pubkey = coincurve.PublicKeyXOnly.from_secret(self._key.secret).format().hex()
        self._sub_id = new_self_id() * 3     # 60 characters (Trystero uses 64 random ones)

    def event(self, topic: str, content: str) -> str:
        """The signed ["EVENT", {...}] message for `content` on `topic`."""
        created_at = int(time.time())
        kind = nostr_kind(topic)
        tags = [["x", topic]]
        digest = hashlib.sha256(js_json([0, self.pubkey, created_at, kind, tags, content]).encode()).digest()
        sig = self._key.sign_schnorr(digest, secrets.token_bytes(32))
        return js_json(["EVENT", {"kind": kind, "tags": tags, "created_at": created_at,
                                  "content": content, "pubkey": self.pubkey,
                                  "id": digest.hex(), "sig": sig.hex()}])

    async def _send_subscribe(self, topics: list[str]) -> None:
        kinds = sorted({nostr_kind(t) for t in topics})
        await self._send(js_json(["REQ", self._sub_id,
                                  {"kinds": kinds, "since": int(time.time()), "#x": topics}]))

    async def _publish(self, topic: str, text: str) -> None:
        await self._send(self.event(topic, text))

    def _received(self, message) -> None:
        try:
            msg = json.loads(message)
            kind = msg[0]
        except (ValueError, TypeError, IndexError, KeyError):
            return
        if kind == "EVENT" and len(msg) >= 3 and isinstance(msg[2], dict):
            event = msg[2]
            topic = next((t[1] for t in event.get("tags") or [] if isinstance(t, list) and len(t) >= 2
                          and t[0] == "x" and isinstance(t[1], str)), None)
            content = event.get("content")
            if topic in self.topics and isinstance(content, str):
                self.on_message(topic, content)
        elif kind == "OK" and len(msg) >= 3 and msg[2] is False:
            log.warning("nostr relay %s refused an event: %s", self.url, msg[3] if len(msg) > 3 else "")
        elif kind in ("NOTICE", "CLOSED"):
            log.warning("nostr relay %s: %s %s", self.url, kind, msg[1:])


# -- MQTT 3.1.1, the packets Trystero's mqtt.js client uses ----------------------------------

def _mqtt_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _mqtt_packet(first: int, body: bytes) -> bytes:
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            return bytes([first]) + bytes(length) + body


class MqttRelay(Relay):
    channel = "mqtt"
    subprotocols = ["mqtt"]
    KEEPALIVE_S = 60

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._packet_id = 0
        self._buffer = b""

    async def _handshake(self, ws) -> None:
        client_id = "rakis_" + secrets.token_hex(8)
        body = _mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", self.KEEPALIVE_S) + _mqtt_str(client_id)
        await ws.send(_mqtt_packet(0x10, body))
        reply = await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_S)
        if not isinstance(reply, bytes) or len(reply) < 4 or reply[0] != 0x20 or reply[3] != 0:
            raise ConnectionError(f"MQTT broker refused the connection ({reply!r:.40})")
        self._buffer = b""

    async def _serve(self, ws) -> None:
        pinger = asyncio.ensure_future(self._ping(ws))
        try:
            await super()._serve(ws)
        finally:
            pinger.cancel()

    async def _ping(self, ws) -> None:
        while True:
            await asyncio.sleep(self.KEEPALIVE_S / 2)
            await self._send(bytes([0xC0, 0]))

    async def _send_subscribe(self, topics: list[str]) -> None:
        self._packet_id = self._packet_id % 65535 + 1
        body = struct.pack("!H", self._packet_id) + b"".join(_mqtt_str(t) + b"\0" for t in topics)
        await self._send(_mqtt_packet(0x82, body))

    async def _publish(self, topic: str, text: str) -> None:
        await self._send(_mqtt_packet(0x30, _mqtt_str(topic) + text.encode()))

    def _received(self, message) -> None:
        if not isinstance(message, bytes):
            return
        self._buffer += message
        while True:
            parsed = self._next_packet()
            if parsed is None:
                return
            first, body = parsed
            if first >> 4 == 3 and len(body) >= 2:           # PUBLISH
                n = struct.unpack("!H", body[:2])[0]
                topic = body[2:2 + n].decode(errors="replace")
                rest = body[2 + n:]
                if (first >> 1) & 3:                          # QoS > 0 carries a packet id
                    rest = rest[2:]
                if topic in self.topics:
                    self.on_message(topic, rest.decode(errors="replace"))

    def _next_packet(self) -> Optional[tuple[int, bytes]]:
        buf = self._buffer
        if len(buf) < 2:
            return None
        length, mult, i = 0, 1, 1
        while True:
            if i >= len(buf) or i > 4:
                return None
            digit = buf[i]
            length += (digit & 127) * mult
            mult *= 128
            i += 1
            if not digit & 128:
                break
        if len(buf) < i + length:
            return None
        self._buffer = buf[i + length:]
        return buf[0], buf[i:i + length]


def relay_for(channel: str, url: str) -> Relay:
    return {"nostr": NostrRelay, "mqtt": MqttRelay}[channel](url)
