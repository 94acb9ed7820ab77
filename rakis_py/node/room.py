"""One Trystero room on one relay (a "channel", as the page calls it), with aiortc for WebRTC.

The CPython counterpart of web/js/transport/rooms.js plus the part of Trystero it relies on:
announce on the root topic, answer an announcement with an offer (the smaller peer id offers) or
with a `{peerId}` ("you offer"), exchange encrypted offer/answer/candidates on the peers' own
topics, open the data channel "data", say `@_hsready` (a browser activates a peer only after it),
then speak the page's two actions: "hello" ({synthientId, heard}: who each side is) and "pkt"
(a signed envelope as JSON). docs/cpython-node.md has the whole exchange.

Timing follows Trystero 0.25: announcements at once, then after 233, 533 and 1333 ms, then every
60 s; an unanswered or unconnected attempt is dropped after 25 s (Trystero: 23.3 s), and the peer's
next announcement starts a fresh one. aiortc does not trickle its own candidates: they are in the
SDP it sends (set_local_description gathers them first), which browsers accept. The peer's
trickled candidates are applied as they come.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from .signalling import Relay
from .wire import (Reassembler, RoomKeys, WireError, encode_action, new_self_id, presence_frame,
                   room_frame, unwrap_frame)

__all__ = ["Room", "ice_configuration"]

log = logging.getLogger("rakis.node.room")

PACKET_ACTION = "pkt"
HELLO_ACTION = "hello"
HS_READY, PING, PONG, LEAVE = "@_hsready", "@_ping", "@_pong", "@_leave"
SYNTHIENT_ID = re.compile(r"^[0-9a-f]{64}$")
ANNOUNCE_WARMUP_S = (0.233, 0.533, 1.333)
ANNOUNCE_EVERY_S = 60.0
ATTEMPT_TTL_S = 25.0
HOUSEKEEPING_S = 1.0
GREET_EVERY = 3              # housekeeping ticks between hellos to peers not yet named (about 3 s)
MAX_LINKS = 128              # peers linked or being linked at once: bounds what announcements can cost


def ice_configuration(ice_servers: Optional[list[dict]]) -> RTCConfiguration:
    """aiortc's configuration for a checked RTCIceServer list (None or [] = no STUN/TURN)."""
    servers = []
    for s in ice_servers or []:
        urls = s["urls"] if isinstance(s["urls"], list) else [s["urls"]]
        servers.append(RTCIceServer(urls=urls, username=s.get("username"), credential=s.get("credential")))
    return RTCConfiguration(iceServers=servers)


@dataclass
class Link:
    """Our side of one remote Trystero peer: the attempt, then the open link."""

    peer_id: str
    pc: RTCPeerConnection
    role: str                        # "offer" | "answer"
    offer_id: Optional[str] = None
    started: float = field(default_factory=time.monotonic)
    channel: Any = None
    active: bool = False             # their @_hsready arrived (and ours went out)
    synthient_id: Optional[str] = None
    candidates: list = field(default_factory=list)   # trickled before the remote description
    described: bool = False
    reassembler: Reassembler = field(default_factory=Reassembler)
    nonces: dict = field(default_factory=dict)


class Room:
    """A room on every relay URL of one channel (as Trystero's one room per strategy). handlers: on_packet(envelope: dict, channel, received_at_ms, size_bytes, synthient_id),
    on_peer(kind: "join" | "hello" | "leave", peer_id, synthient_id)."""

    def __init__(self, channel: str, relays: list[Relay], keys: RoomKeys, synthient_id: str,
                 ice_servers: Optional[list[dict]],
                 on_packet: Callable[..., None], on_peer: Callable[..., None],
                 self_id: Optional[str] = None) -> None:
        self.channel = channel
        self.relays = relays
        self.keys = keys
        self.self_id = self_id or new_self_id()   # chosen only by tests (to pick who offers)
        self.self_topic = keys.peer_topic(self.self_id)
        self.synthient_id = synthient_id
        self.ice_servers = ice_servers
        self.on_packet = on_packet
        self.on_peer = on_peer
        self.links: dict[str, Link] = {}
        self.pending_candidates: dict[str, list[str]] = {}
        self._tasks: list[asyncio.Task] = []
        self._announce_wake = asyncio.Event()
        self._leaving = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for relay in self.relays:
            relay.subscribe(self.keys.root_topic)
            relay.subscribe(self.self_topic)
            relay.on_message = self._on_signal
            relay.on_open = self._announce_wake.set
        self._tasks = [*(asyncio.ensure_future(r.run()) for r in self.relays),
                       asyncio.ensure_future(self._announcer()),
                       asyncio.ensure_future(self._housekeeping())]

    async def leave(self) -> None:
        """Trystero's leave: `@_leave` to every peer, a moment for it to go out, then close."""
        self._leaving = True
        for link in list(self.links.values()):
            if link.channel is not None and link.channel.readyState == "open":
                self._send_action(link, LEAVE, "")
        await asyncio.sleep(0.1)
        # The channels first (a stream reset the browser reads as a close), then the connections:
        # closing the connection alone aborts SCTP, which Chromium logs as a peer error.
        for link in list(self.links.values()):
            if link.channel is not None:
                link.channel.close()
        await asyncio.sleep(0.1)
        for link in list(self.links.values()):
            await self._drop(link, "left")
        for relay in self.relays:
            await relay.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what the node uses ----------------------------------------------------------------

    def peers(self) -> dict[str, Optional[str]]:
        """Trystero peer id -> the synthientId it said in its hello, for every active link."""
        return {p: link.synthient_id for p, link in self.links.items() if link.active}

    def send(self, envelope: dict, to: Optional[tuple[str, ...]] = None) -> int:
        """The envelope to `to` (synthientIds) when every one of them is linked here by its
        hello, else to every active peer (rooms.js's rule: receivers drop what is not for them).
        Returns how many peers it went to."""
        active = [link for link in self.links.values() if link.active]
        targets = active
        if to:
            named = [link for link in active if link.synthient_id in to]
            if {link.synthient_id for link in named} >= set(to):
                targets = named
        for link in targets:
            self._send_action(link, PACKET_ACTION, envelope)
        return len(targets)

    # -- signalling ------------------------------------------------------------------------

    def _on_signal(self, topic: str, text: str) -> None:
        if self._leaving or topic not in (self.keys.root_topic, self.self_topic):
            return
        try:
            payload = json.loads(text)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        signals = {k: payload.get(k) for k in ("offer", "answer", "candidate") if k in payload}
        if any(not isinstance(v, str) or not v for v in signals.values()):
            return
        peer_id = payload.get("peerId")
        if not isinstance(peer_id, str) or not peer_id or peer_id == self.self_id or len(peer_id) > 64:
            return
        offer_id = payload.get("offerId") if isinstance(payload.get("offerId"), str) else None
        link = self.links.get(peer_id)
        if link is not None and link.channel is not None and link.channel.readyState == "open":
            return                                        # linked: signalling has nothing to add
        if "candidate" in signals:
            asyncio.ensure_future(self._candidate(peer_id, signals["candidate"], offer_id))
        elif "answer" in signals:
            asyncio.ensure_future(self._answer(peer_id, signals["answer"], offer_id))
        elif "offer" in signals:
            asyncio.ensure_future(self._offer_received(peer_id, signals["offer"], offer_id))
        elif link is None:                                # an announcement (or "you offer")
            if self.self_id < peer_id:
                asyncio.ensure_future(self._make_offer(peer_id))
            else:
                self._publish(peer_id, {"peerId": self.self_id})

    def _publish(self, peer_id: str, message: dict) -> None:
        self._broadcast(self.keys.peer_topic(peer_id), json.dumps(message, separators=(",", ":")))

    def _broadcast(self, topic: str, text: str) -> None:
        for relay in self.relays:
            relay.publish(topic, text)

    def relay_states(self) -> dict[str, str]:
        return {r.url: r.state for r in self.relays}

    def _new_link(self, peer_id: str, role: str, offer_id: Optional[str] = None) -> Optional[Link]:
        if len(self.links) >= MAX_LINKS:
            log.warning("%s: %d links already, not linking %s", self.channel, MAX_LINKS, peer_id)
            return None
        pc = RTCPeerConnection(ice_configuration(self.ice_servers))
        link = Link(peer_id, pc, role, offer_id)
        self.links[peer_id] = link

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed") and self.links.get(peer_id) is link:
                await self._drop(link, f"connection {pc.connectionState}")
        return link

    async def _make_offer(self, peer_id: str) -> None:
        link = self._new_link(peer_id, "offer", new_self_id()[:12])
        if link is None:
            return
        try:
            self._watch_channel(link, link.pc.createDataChannel("data"))
            await link.pc.setLocalDescription(await link.pc.createOffer())
        except Exception as e:  # noqa: BLE001 - our side failed: drop the attempt, retry later
            await self._drop(link, f"offer failed: {e}")
            return
        if self.links.get(peer_id) is link:
            self._publish(peer_id, {"peerId": self.self_id, "offerId": link.offer_id,
                                    "offer": self.keys.encrypt(link.pc.localDescription.sdp)})

    async def _offer_received(self, peer_id: str, cipher: str, offer_id: Optional[str]) -> None:
        link = self.links.get(peer_id)
        if link is not None:
            if link.role == "answer" or self.self_id < peer_id:
                return                                    # answering already, or we lead
            await self._drop(link, "their offer wins")
        try:
            sdp = self.keys.decrypt(cipher)
        except WireError:
            log.debug("%s: undecryptable offer from %s", self.channel, peer_id)
            return
        link = self._new_link(peer_id, "answer", offer_id)
        if link is None:
            return
        link.pc.on("datachannel", lambda ch: self._watch_channel(link, ch))
        try:
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            link.described = True
            await self._apply_candidates(link, self.pending_candidates.pop(peer_id, []))
            await link.pc.setLocalDescription(await link.pc.createAnswer())
        except Exception as e:  # noqa: BLE001 - a bad offer is the peer's fault
            await self._drop(link, f"bad offer: {e}")
            return
        if self.links.get(peer_id) is link:
            message = {"peerId": self.self_id, "answer": self.keys.encrypt(link.pc.localDescription.sdp)}
            if offer_id:
                message["offerId"] = offer_id
            self._publish(peer_id, message)

    async def _answer(self, peer_id: str, cipher: str, offer_id: Optional[str]) -> None:
        link = self.links.get(peer_id)
        if link is None or link.role != "offer" or link.described or (offer_id and offer_id != link.offer_id):
            return
        try:
            sdp = self.keys.decrypt(cipher)
            link.described = True
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
            await self._apply_candidates(link, link.candidates + self.pending_candidates.pop(peer_id, []))
            link.candidates = []
        except Exception as e:  # noqa: BLE001 - a bad answer is the peer's fault
            await self._drop(link, f"bad answer: {e}")

    async def _candidate(self, peer_id: str, cipher: str, offer_id: Optional[str]) -> None:
        try:
            text = self.keys.decrypt(cipher)
        except WireError:
            return
        link = self.links.get(peer_id)
        if link is None:
            pending = self.pending_candidates.setdefault(peer_id, [])
            if len(pending) < 32 and len(self.pending_candidates) <= MAX_LINKS:
                pending.append(text)
        elif not link.described:
            if len(link.candidates) < 32:
                link.candidates.append(text)
        else:
            await self._apply_candidates(link, [text])

    async def _apply_candidates(self, link: Link, texts: list[str]) -> None:
        for text in texts:
            try:
                c = json.loads(text)
                line = c.get("candidate") or ""
                if not line:
                    continue
                candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
                candidate.sdpMid = c.get("sdpMid")
                candidate.sdpMLineIndex = c.get("sdpMLineIndex")
                await link.pc.addIceCandidate(candidate)
            except Exception as e:  # noqa: BLE001 - one bad candidate is skipped
                log.debug("%s: candidate from %s skipped: %s", self.channel, link.peer_id, e)

    # -- the data channel ------------------------------------------------------------------

    def _watch_channel(self, link: Link, channel) -> None:
        link.channel = channel

        def opened() -> None:
            if self.links.get(link.peer_id) is not link:
                return
            link.described = True
            self.pending_candidates.pop(link.peer_id, None)
            channel.send(presence_frame(self.keys.room_token, True))
            self._send_action(link, HS_READY, "")
            log.debug("%s: data channel open with %s", self.channel, link.peer_id)

        channel.on("message", lambda data: self._on_data(link, data))
        channel.on("close", lambda: asyncio.ensure_future(
            self._drop(link, "we left" if self._leaving else "channel closed")))
        if channel.readyState == "open":
            opened()
        else:
            channel.on("open", opened)

    def _on_data(self, link: Link, data) -> None:
        if self.links.get(link.peer_id) is not link or not isinstance(data, bytes):
            return
        try:
            kind, token, chunk = unwrap_frame(data)
            if kind != "room" or token != self.keys.room_token:
                return
            message = link.reassembler.feed(chunk)
        except WireError as e:
            log.debug("%s: bad frame from %s: %s", self.channel, link.peer_id, e)
            return
        if message is None:
            return
        name, value = message.name, message.value
        if name == HS_READY:
            if not link.active:
                link.active = True
                log.info("%s: linked with peer %s (%s offered)", self.channel, link.peer_id,
                         "we" if link.role == "offer" else "it")
                self.on_peer("join", link.peer_id, None)
                self._greet(link)
        elif name == LEAVE:
            asyncio.ensure_future(self._drop(link, "peer left"))
        elif not link.active:
            return                                        # Trystero's rule: nothing before ready
        elif name == PING:
            self._send_action(link, PONG, "")
        elif name == HELLO_ACTION and isinstance(value, dict):
            sid = value.get("synthientId")
            if not isinstance(sid, str) or not SYNTHIENT_ID.match(sid):
                return
            known = link.synthient_id == sid
            link.synthient_id = sid
            if value.get("heard") is not True:
                self._greet(link)
            if not known:
                self.on_peer("hello", link.peer_id, sid)
        elif name == PACKET_ACTION:
            if isinstance(value, dict):
                size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
                self.on_packet(value, self.channel, int(time.time() * 1000), size, link.synthient_id)

    def _greet(self, link: Link) -> None:
        self._send_action(link, HELLO_ACTION, {"synthientId": self.synthient_id,
                                               "heard": link.synthient_id is not None})

    def _send_action(self, link: Link, name: str, value: Any) -> None:
        channel = link.channel
        if channel is None or channel.readyState != "open":
            return
        nonce = link.nonces.get(name, 0)
        link.nonces[name] = (nonce + 1) & 0xFFFF
        try:
            for chunk in encode_action(name, value, nonce):
                channel.send(room_frame(self.keys.room_token, chunk))
        except Exception as e:  # noqa: BLE001 - a closing channel: the close handler drops it
            log.debug("%s: send to %s failed: %s", self.channel, link.peer_id, e)

    async def _drop(self, link: Link, why: str) -> None:
        if self.links.get(link.peer_id) is not link:
            return
        del self.links[link.peer_id]
        if link.active:
            log.info("%s: peer %s gone (%s)", self.channel, link.peer_id, why)
            self.on_peer("leave", link.peer_id, link.synthient_id)
            self._announce_wake.set()                     # Trystero re-announces on a lost peer
        else:
            log.debug("%s: attempt with %s dropped (%s)", self.channel, link.peer_id, why)
        try:
            await link.pc.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    # -- timers ----------------------------------------------------------------------------

    async def _announcer(self) -> None:
        """Announce on every (re)open of the relay with the warm-up spacing, then every 60 s."""
        while True:
            await self._announce_wake.wait()
            self._announce_wake.clear()
            for delay in (0.0, *ANNOUNCE_WARMUP_S):
                await asyncio.sleep(delay)
                self._broadcast(self.keys.root_topic, json.dumps({"peerId": self.self_id}, separators=(",", ":")))
            try:
                await asyncio.wait_for(self._announce_wake.wait(), ANNOUNCE_EVERY_S)
            except asyncio.TimeoutError:
                self._announce_wake.set()

    async def _housekeeping(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            tick += 1
            now = time.monotonic()
            for link in list(self.links.values()):
                connected = link.channel is not None and link.channel.readyState == "open"
                if not link.active and now - link.started > ATTEMPT_TTL_S:
                    await self._drop(link, "not linked in time" if not connected else "no @_hsready")
                elif tick % GREET_EVERY == 0 and link.active and link.synthient_id is None:
                    self._greet(link)
            if len(self.pending_candidates) > 0 and tick % 30 == 0:
                self.pending_candidates = {p: c for p, c in self.pending_candidates.items() if p in self.links}
