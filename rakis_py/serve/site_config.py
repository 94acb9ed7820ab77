"""What the page learns from GET /rakis-config.json (read by web/js/transport/config.js).

    {"version": 1, "source": "rakis serve",
     "topic": "rakis2",                                  network name (v1 `topic`)
     "relays": {"nostr": ["ws://HOST:PORT"], "mqtt": ["ws://HOST:PORT"]},   one entry per channel
     "iceServers": []}                                   no STUN/TURN lookups offline
                                                         (`rakis serve --ice-servers JSON`)

Relay URLs are built per request from the Host the browser used, so a page opened over the LAN
(`--host 0.0.0.0`, http://192.168.1.5:8000/) gets ws://192.168.1.5:PORT and not 127.0.0.1.

With `proxied` (`rakis serve --tls`) the relays are reached through the page's own port instead
(ws_proxy.py): wss://192.168.1.5:8000/relay/nostr, the Host header kept as the browser sent it."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

from .trystero_names import DEFAULT_TOPIC
from .ws_proxy import relay_path


@dataclass
class SiteConfig:
    topic: str = DEFAULT_TOPIC
    # channel name -> relay port (ws://, the page is served over plain http).
    relay_ports: dict[str, int] = field(default_factory=dict)
    ice_servers: list[dict] = field(default_factory=list)
    bind_host: str = "127.0.0.1"
    # Relays behind the page server on /relay/<name> (then page_port is where, tls says wss).
    proxied: bool = False
    tls: bool = False
    page_port: int = 0

    def to_json(self, request_host: str | None = None) -> dict:
        host = _hostname(request_host) or _url_host(self.bind_host)
        if self.proxied:
            scheme = "wss" if self.tls else "ws"
            where = _host_and_port(request_host) or f"{_url_host(self.bind_host)}:{self.page_port}"
            relays = {name: [f"{scheme}://{where}{relay_path(name)}"] for name in self.relay_ports}
        else:
            relays = {name: [f"ws://{host}:{port}"] for name, port in self.relay_ports.items()}
        return {
            "version": 1,
            "source": "rakis serve",
            "topic": self.topic,
            "relays": relays,
            "iceServers": list(self.ice_servers),
        }


ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
ICE_KEYS = {"urls", "username", "credential"}
ICE_EXAMPLE = '[{"urls": "stun:stun.example.org:3478"}, {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]'


def parse_ice_servers(text: str) -> list[dict]:
    """`--ice-servers`: a JSON list of RTCIceServer objects, checked here so a bad value is a clear
    error at startup rather than a failed RTCPeerConnection in every tab. The page checks its
    `?iceServers=` the same way (web/js/transport/config.js `iceServersProblem`); both are tested
    against one case table, tests/cases/ice_servers.json.
    Each entry: `urls` (a stun:/stuns:/turn:/turns: URL or a non-empty list of them), and for
    TURN `username` and `credential` (strings; browsers refuse a TURN server without them)."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON ({e}); expected a list such as {ICE_EXAMPLE}") from None
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list of ICE servers, got {type(value).__name__}; e.g. {ICE_EXAMPLE}")
    out = []
    for i, server in enumerate(value):
        where = f"ICE server {i}"
        if not isinstance(server, dict):
            raise ValueError(f"{where} is not an object with \"urls\"; e.g. {ICE_EXAMPLE}")
        unknown = sorted(set(server) - ICE_KEYS)
        if unknown:
            hint = ' (the key is "urls")' if "url" in unknown else ""
            raise ValueError(f"{where} has unknown keys {unknown}{hint}; allowed: urls, username, credential")
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise ValueError(f"{where}: \"urls\" must be a URL string or a non-empty list of them")
        for u in urls:
            if not u.startswith(ICE_SCHEMES) or len(u) <= u.index(":") + 1:
                raise ValueError(f"{where}: {u!r} is not a stun:, stuns:, turn: or turns: URL")
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ValueError(f"{where}: \"{key}\" must be a string")
        if any(u.startswith("turn") for u in urls) and not ("username" in server and "credential" in server):
            raise ValueError(f"{where}: a TURN server needs \"username\" and \"credential\"")
        out.append(dict(server))
    return out


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _hostname(host_header: str | None) -> str | None:
    """The host part of an HTTP Host header ("example:8000", "[::1]:8000"), or None if unusable."""
    if not host_header:
        return None
    h = host_header.strip()
    if h.startswith("["):
        end = h.find("]")
        return h[: end + 1] if end > 0 else None
    name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    # Only hostname characters: the value ends up in a URL the page connects to.
    if not name or not all(c.isalnum() or c in ".-_" for c in name):
        return None
    return name


def _host_and_port(host_header: str | None) -> str | None:
    """The Host header as a URL authority ("example:8443", "[::1]:8443", "example"), or None."""
    name = _hostname(host_header)
    if name is None:
        return None
    rest = host_header.strip()[len(name):]
    if rest == "":
        return name
    if rest.startswith(":") and rest[1:].isdigit() and 0 < int(rest[1:]) < 65536:
        return name + rest
    return None
