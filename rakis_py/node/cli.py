"""`rakis node`: a CPython process that joins the tabs' network and runs the same protocol core.

    rakis node --topic rakis2 --nostr ws://127.0.0.1:8001 --mqtt ws://127.0.0.1:8002 --data-dir ~/.rakis/node

Without relay options it uses what a page on a static host uses: Trystero's public Nostr relays
(the same five it picks for this network name) and public MQTT brokers, and Trystero's default
STUN servers. A follower for now: it relays, stores and follows requests; no model workers.
Ctrl-C (or SIGTERM) leaves cleanly: `@_leave` to every peer, relays closed, storage closed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Optional

__all__ = ["main", "build_parser", "default_relays", "DEFAULT_ICE_SERVERS"]

log = logging.getLogger("rakis.node")

CHANNELS = ("nostr", "mqtt")
# Trystero 0.25.4's defaults (@trystero-p2p/nostr, @trystero-p2p/mqtt, core peer.mjs): a page
# whose config names no relays or ICE servers uses these, so the node does too.
TRYSTERO_NOSTR_RELAYS = [f"wss://{h}" for h in (
    "basspistol.org", "bucket.coracle.social", "chorus.pjv.me", "koru.bitcointxoko.org", "nos.lol",
    "nostr-01.uid.ovh", "nostr-01.yakihonne.com", "nostr-relay.corb.net", "nostr.data.haus",
    "nostr.islandarea.net", "nostr.sathoarder.com", "nostr.tegila.com.br", "nostr.vulpem.com",
    "purplerelay.com", "relay-can.zombi.cloudrodion.com", "relay-rpi.edufeed.org",
    "relay.agorist.space", "relay.artio.inf.unibe.ch", "relay.mostr.pub", "relay.mostro.network",
    "relay.sigit.io", "relay02.lnfi.network", "schnorr.me", "social.amanah.eblessing.co",
    "staging.yabu.me", "strfry.shock.network", "top.testrelay.top", "yabu.me/v2")]
TRYSTERO_MQTT_RELAYS = [f"wss://{h}" for h in (
    "test.mosquitto.org:8081/mqtt", "broker.emqx.io:8084/mqtt", "public:public@public.cloud.shiftr.io",
    "broker-cn.emqx.io:8084/mqtt", "broker.hivemq.com:8884/mqtt")]
DEFAULT_ICE_SERVERS = [{"urls": u} for u in (
    "stun:stun.l.google.com:19302", "stun:stun1.l.google.com:19302", "stun:stun2.l.google.com:19302",
    "stun:stun.cloudflare.com:3478")]
STATUS_EVERY_S = 60.0


def _js_shuffle(items: list, seed: int) -> list:
    """Trystero's utils.mjs shuffle (a sin-seeded Fisher-Yates), step for step."""
    a = list(items)

    def rand() -> float:
        nonlocal seed
        x = math.sin(seed) * 1e4
        seed += 1
        return x - math.floor(x)

    i = len(a)
    while i:
        j = math.floor(rand() * i)
        i -= 1
        a[i], a[j] = a[j], a[i]
    return a


def default_relays(channel: str, app_id: str) -> list[str]:
    """The relays a page with no relay config uses for this network (Trystero's getRelays)."""
    if channel == "nostr":
        seed = sum(ord(c) for c in app_id) % (2 ** 53 - 1)
        return _js_shuffle(TRYSTERO_NOSTR_RELAYS, seed)[:5]
    return TRYSTERO_MQTT_RELAYS[:4]


def _ice_servers_arg(text: str) -> list[dict]:
    from ..serve.site_config import parse_ice_servers
    try:
        return parse_ice_servers(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _url_arg(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a ws:// or wss:// URL")
    return text


def build_parser() -> argparse.ArgumentParser:
    from ..serve.trystero_names import DEFAULT_TOPIC
    p = argparse.ArgumentParser(prog="rakis node", description=__doc__.split("\n\n")[0])
    p.add_argument("--topic", default=DEFAULT_TOPIC, help="network name, as `rakis serve --topic` (default %(default)s)")
    p.add_argument("--nostr", action="append", type=_url_arg, metavar="URL",
                   help="a Nostr relay (repeat for several; default: Trystero's public relays)")
    p.add_argument("--mqtt", action="append", type=_url_arg, metavar="URL",
                   help="an MQTT-over-WebSocket broker (repeat; default: Trystero's public brokers)")
    p.add_argument("--channels", default=None,
                   help="which channels to join, comma-separated (default: those given with --nostr/--mqtt, "
                        "or both when neither is given)")
    p.add_argument("--ice-servers", type=_ice_servers_arg, default=None, metavar="JSON",
                   help="STUN/TURN servers, a JSON list of RTCIceServer (checked as `rakis serve` checks it); "
                        "default: Trystero's STUN servers; '[]' for none (a LAN or one machine)")
    p.add_argument("--data-dir", type=Path, default=Path("~/.rakis/node"),
                   help="identity and SQLite store; the node resumes from it (default %(default)s)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def _channels(args) -> dict[str, list[str]]:
    from ..serve.trystero_names import room_names
    given = {c: getattr(args, c) for c in CHANNELS if getattr(args, c)}
    names = [c.strip() for c in args.channels.split(",")] if args.channels else list(given or CHANNELS)
    bad = [c for c in names if c not in CHANNELS]
    if bad or not names:
        raise SystemExit(f"rakis node: unknown channel(s) {', '.join(bad) or '(none)'}; choose from {', '.join(CHANNELS)}")
    app_id = room_names(args.topic)[0]
    return {c: given.get(c) or default_relays(c, app_id) for c in names}


async def run(args, stop: Optional[asyncio.Event] = None) -> int:
    from ..runtime.sqlite_store import SqliteStorage
    from .datadir import DataDir, DataDirBusy
    from .driver import CoreDriver
    from .room import Room
    from .signalling import relay_for
    from .wire import room_keys

    channels = _channels(args)
    ice = DEFAULT_ICE_SERVERS if args.ice_servers is None else args.ice_servers
    data = DataDir(args.data_dir)
    try:
        data.lock()
    except DataDirBusy as e:
        log.error("%s", e)
        return 1
    identity, created = data.identity()
    store = SqliteStorage(data.db_path)
    rooms: list[Room] = []

    def send(envelope: dict, to) -> None:
        for room in rooms:
            room.send(envelope, to)

    driver = CoreDriver(identity, store, send)
    started = time.monotonic()
    driver.boot()
    log.info("node %s (%s identity, %s state) on network %r; data in %s", identity.synthient_id,
             "new" if created else "stored", "restored" if driver.restored else "fresh", args.topic, data.path)
    keys = room_keys(args.topic)
    first_link: dict[str, float] = {}

    def on_peer(channel: str):
        def handler(kind: str, peer_id: str, synthient_id: Optional[str]) -> None:
            if kind == "hello":
                if not first_link:
                    driver.announce()
                if channel not in first_link:
                    first_link[channel] = time.monotonic() - started
                    log.info("%s: first peer named %.1f s after start", channel, first_link[channel])
                log.info("%s: peer %s is node %s", channel, peer_id, synthient_id)
        return handler

    for channel, urls in channels.items():
        log.info("joining %s via %s", channel, ", ".join(urls))
        room = Room(channel, [relay_for(channel, u) for u in urls], keys, identity.synthient_id, ice,
                    on_packet=lambda env, ch, at, size, _sid: driver.packet(env, ch, at, size),
                    on_peer=on_peer(channel))
        rooms.append(room)
        room.start()

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), STATUS_EVERY_S)
            except asyncio.TimeoutError:
                st = driver.status()
                log.info("status: %d known peers, %d requests; links %s; relays %s", st["peers"], st["requests"],
                         {r.channel: len(r.peers()) for r in rooms},
                         {r.channel: r.relay_states() for r in rooms})
    finally:
        log.info("leaving the network")
        await asyncio.gather(*(r.leave() for r in rooms), return_exceptions=True)
        driver.close()
        store.close()
        data.unlock()
        log.info("stopped")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    try:
        import aiortc  # noqa: F401
        import coincurve  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as e:
        print(f"rakis node needs the 'node' extra: pip install 'rakis-py[node]' ({e.name} is missing)",
              file=sys.stderr)
        return 3
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiortc/aioice log every ICE check at INFO.
    for noisy in ("aioice", "aiortc", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
