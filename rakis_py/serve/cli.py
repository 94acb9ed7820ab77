"""`rakis serve` / `python -m rakis_py.serve`: the page and its local relays until Ctrl-C.

    python -m rakis_py.serve [--dist dist] [--host 127.0.0.1] [--port 8000] [--topic rakis2]
                             [--nostr-port P+1] [--mqtt-port P+2] [--mqtt-tcp-port P+3] [--no-mqtt]
                             [--tls [--cert FILE --key FILE] [--tls-dir DIR]] [--ice-servers JSON]

Relay ports default to the page port + 1, 2, 3 (stable numbers for a LAN firewall); 0 picks free
ones. The page learns them from /rakis-config.json, so only --port has to be shared.

--tls (for a LAN: a page from another machine over plain http is not a secure context) serves
https with --cert/--key or a self-signed certificate kept in --tls-dir, and passes the relays
through the page port (wss://HOST:PORT/relay/nostr, /relay/mqtt): one port, one certificate; the
relays themselves then listen on 127.0.0.1 only.

--ice-servers '[{"urls": "stun:HOST:3478"}]' hands the page STUN/TURN servers (default none: peers
on one machine or LAN connect directly); a URL parameter ?iceServers= still overrides it per tab."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from pathlib import Path

from .ports import PortInUse, check_free
from .relays import LocalRelays, RelayError
from . import tls
from .site_config import SiteConfig, parse_ice_servers
from .static import StaticServer
from .trystero_names import DEFAULT_TOPIC, network_kind
from .ws_proxy import relay_path

# Kinds nostr-sdk's LocalRelay refuses (NIP-42 auth, Blossom auth, NIP-98 HTTP auth).
LOCAL_RELAY_REFUSED_KINDS = {22242, 24242, 27235}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rakis serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--dist", type=Path, default=Path("dist"), help="built site (python build.py)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the page and the relays bind (0.0.0.0 for a LAN)")
    p.add_argument("--port", type=int, default=8000, help="page port (0: any free port)")
    p.add_argument("--topic", default=DEFAULT_TOPIC, help="network name; another name is another network")
    p.add_argument("--nostr-port", type=int, default=None, help="Nostr relay port (default port+1)")
    p.add_argument("--mqtt-port", type=int, default=None, help="mosquitto websockets port (default port+2)")
    p.add_argument("--mqtt-tcp-port", type=int, default=None, help="mosquitto TCP port (default port+3)")
    p.add_argument("--no-mqtt", action="store_true", help="do not start mosquitto even when installed")
    p.add_argument("--tls", action="store_true",
                   help="https, relays proxied on the page port (wss://HOST:PORT/relay/NAME)")
    p.add_argument("--cert", type=Path, default=None, help="TLS certificate (PEM; implies --tls)")
    p.add_argument("--key", type=Path, default=None, help="its private key (PEM)")
    p.add_argument("--tls-dir", type=Path, default=tls.DEFAULT_TLS_DIR,
                   help="where the self-signed certificate is kept and reused (default %(default)s)")
    p.add_argument("--ice-servers", type=_ice_servers_arg, default=[], metavar="JSON",
                   help="STUN/TURN servers the page gives WebRTC, a JSON list of RTCIceServer objects, "
                        "e.g. '[{\"urls\": \"stun:stun.example.org:3478\"}]' (default: none)")
    p.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = p.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        p.error("--cert and --key go together")
    args.tls = args.tls or args.cert is not None
    derived = {"nostr_port": 1, "mqtt_port": 2, "mqtt_tcp_port": 3}
    for name, offset in derived.items():
        if getattr(args, name) is None:
            setattr(args, name, args.port + offset if args.port else 0)
    return args


def _ice_servers_arg(text: str) -> list[dict]:
    try:
        return parse_ice_servers(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_topic(topic: str) -> str | None:
    if not topic or len(topic) > 64:
        return "the network name must be 1-64 characters"
    if network_kind(topic) in LOCAL_RELAY_REFUSED_KINDS:
        return (f"the local Nostr relay refuses event kind {network_kind(topic)}, which this network "
                "name maps to in Trystero: pick another --topic")
    return None


def lan_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends no packet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only used to pick the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    problem = check_topic(args.topic)
    if problem:
        print(f"rakis serve: {problem}", file=sys.stderr)
        return 2
    if not (args.dist / "index.html").is_file():
        print(f"rakis serve: {args.dist}/index.html not found: build the site first (python build.py)",
              file=sys.stderr)
        return 2

    stop = threading.Event()
    # SIGTERM stops like Ctrl-C; both only set the event, the main thread does the cleanup.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    cert = None
    if args.tls:
        try:
            cert = (tls.given(args.cert, args.key) if args.cert is not None
                    else tls.self_signed(args.tls_dir, tls.local_names(args.host, lan_address())))
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            print(f"rakis serve: no usable TLS certificate: {e}", file=sys.stderr)
            return 2
    # Behind the proxy the relays need not be reachable from anywhere but this machine.
    relay_host = "127.0.0.1" if cert else args.host
    relays = LocalRelays(relay_host, args.nostr_port, args.mqtt_port, args.mqtt_tcp_port,
                         mqtt=False if args.no_mqtt else None)
    config = SiteConfig(topic=args.topic, bind_host=args.host, proxied=cert is not None,
                        tls=cert is not None, ice_servers=args.ice_servers)
    site = StaticServer(args.dist, args.host, args.port, config.to_json, quiet=not args.verbose,
                        ssl_context=cert.ssl_context() if cert else None)
    try:
        check_free(args.host, args.port, "page server", "--port")  # fail before starting relays
        relays.start()
        config.relay_ports = relays.ports()
        if cert:
            site.ws_routes = {relay_path(name): ("127.0.0.1", port)
                              for name, port in config.relay_ports.items()}
        site.start()
        config.page_port = site.port
        print(f"rakis serve: {site.url}  (network {args.topic!r})", flush=True)
        scheme = "https" if cert else "http"
        if args.host in ("0.0.0.0", "::", ""):
            lan = lan_address()
            if lan:
                print(f"  on the LAN: {scheme}://{lan}:{site.port}/", flush=True)
        if cert:
            origin = "generated" if cert.generated else ("given" if args.cert else "reused")
            print(f"  certificate ({origin}) {cert.cert}", flush=True)
            print(f"    SHA-256 {cert.fingerprint}", flush=True)
            print(f"    for {', '.join(cert.names)}", flush=True)
            if args.cert is None:
                print("    self-signed: each browser warns once; check the fingerprint above, then "
                      "Advanced > Proceed (Chrome) or Accept the Risk (Firefox)", flush=True)
        for name, relay in relays.relays.items():
            via = f" via wss://HOST:{site.port}{relay_path(name)}" if cert else ""
            print(f"  {name:6} relay {relay.url}{via}  (pid {relay.pid})", flush=True)
        for name, why in relays.skipped.items():
            print(f"  {name:6} not started: {why}", flush=True)
        if args.ice_servers:
            urls = [u for s in args.ice_servers for u in ([s["urls"]] if isinstance(s["urls"], str) else s["urls"])]
            print(f"  ICE servers: {', '.join(urls)}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        reported: set[str] = set()
        while not stop.wait(1.0):
            for name in relays.died():
                if name not in reported:
                    reported.add(name)
                    print(f"rakis serve: the {name} relay exited; the page keeps using the others",
                          file=sys.stderr, flush=True)
    except (PortInUse, RelayError, FileNotFoundError) as e:
        print(f"rakis serve: {e}", file=sys.stderr)
        return 1
    finally:
        relays.stop()
        site.stop()
    print("rakis serve: stopped", flush=True)
    return 0
