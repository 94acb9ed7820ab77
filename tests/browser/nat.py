"""Tabs behind NATs that defeat hole punching, and a TURN server: the network of the NAT test and
benchmark (docs/faults.md, "NAT").

Run as root inside a network namespace of our own (`./dev test` gives one; bench/bench_nat.py
makes one), which plays the public internet ("wan"): a bridge `natbr` at 10.99.0.1/24 holding the
page server (https, the relays proxied as wss on the page port) and, when asked, coturn. Per tab k:

    lan-k (10.1.k.2, Chromium)  --veth--  nat-k (10.1.k.1 | 10.99.0.(10+k))  --veth/bridge--  wan

nat-k forwards lan-k to wan and masquerades it with nftables `masquerade random,fully-random`: a
new random source port for every destination, i.e. a symmetric NAT, and (Linux conntrack) only
replies to what went out come back in. So a tab's host candidate (10.1.k.2) is unroutable from
anywhere else, its server-reflexive candidate (what a STUN server saw) is a mapping the other
tab's packets cannot use, and hole punching fails as it does for the users who need a relay. The
NATs can reach each other's public addresses (as on the internet); the wan namespace does not
forward. Every namespace is held by a `sleep` process; Chromium runs in lan-k through an `nsenter`
wrapper (Playwright talks to it over pipes, which the namespace does not touch).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["WAN", "TURN_USER", "TURN_PASSWORD", "missing", "Wan", "NatNetwork", "Turn", "run_tabs", "ice"]

WAN = "10.99.0.1"
TURN_USER, TURN_PASSWORD = "rakis", "nat-test"
# coturn's relay range. Each page's Trystero rooms keep pools of pre-made offers, each gathering
# its own TURN allocation (one relay port): 49 ports ran out with 2 tabs ("no available ports",
# 72 times), which delayed the link to ~54 s.
RELAY_PORTS = (49152, 49651)
BOOT_MS = 180_000
# Host candidates as addresses, not mDNS names (tests/serve/test_transport_browser.py).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-features=WebRtcHideLocalIpsWithMdns",
                 f"--host-resolver-rules=MAP lan.test {WAN}", "--ignore-certificate-errors"]
# Records every RTCPeerConnection the page makes, to read which candidate pair ICE chose.
RECORD_PCS = """(() => {
  const Orig = window.RTCPeerConnection, pcs = window.__natPcs = [];
  window.RTCPeerConnection = class extends Orig { constructor(...a) { super(...a); pcs.push(this); } };
})();"""
SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__natPcs ?? []) {
    if (pc.connectionState !== "connected") continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
    if (pair) out.push([stats.get(pair.localCandidateId)?.candidateType, stats.get(pair.remoteCandidateId)?.candidateType]);
  }
  return out;
}"""


def missing() -> str | None:
    """Why this machine cannot run the NAT network (None: it can)."""
    if os.geteuid() != 0 or os.environ.get("RAKIS_ISOLATED") != "1":
        return "needs root in a network namespace of its own (run through ./dev test)"
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux"), ("unshare", "util-linux"),
                          ("nft", "nftables"), ("turnserver", "coturn")):
        if not shutil.which(tool):
            return f"{tool} not installed (./dev installs {package})"
    from rakis_py.serve.relays import MosquittoRelay, NostrRelay
    return NostrRelay.available() or MosquittoRelay.available()


def sh(*args: str, ns: int | None = None, stdin: str | None = None) -> str:
    cmd = (["nsenter", f"--net=/proc/{ns}/ns/net", "--"] if ns else []) + list(args)
    done = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


def _namespace() -> subprocess.Popen:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    deadline = time.monotonic() + 10
    # unshare must have made its namespace before anything is moved into it.
    while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        if time.monotonic() > deadline:
            holder.kill()
            raise RuntimeError("unshare --net did not start")
        time.sleep(0.05)
    pid = holder.pid
    sh("ip", "link", "set", "lo", "up", ns=pid)
    # No IPv6: a link-local address appears ~1 s after a link is up, and Chromium aborts loads
    # that span a network change (ERR_NETWORK_CHANGED).
    sh("sh", "-c", "for c in all default; do echo 1 > /proc/sys/net/ipv6/conf/$c/disable_ipv6; done", ns=pid)
    return holder


def _nat_rules(public_if: str, lan_address: str, symmetric: bool) -> str:
    """nftables for a NAT router. Symmetric: a random source port per destination, and only
    replies come in. Otherwise (the control) a full-cone NAT: the source port is kept and any UDP
    packet to the public address is passed to the tab on the same port, so hole punching works."""
    if symmetric:
        nat = f'chain post {{ type nat hook postrouting priority srcnat; oifname "{public_if}" masquerade random,fully-random; }}'
        inbound = ""
    else:
        nat = (f'chain pre {{ type nat hook prerouting priority dstnat; iifname "{public_if}" udp dport 1024-65535 dnat to {lan_address}; }}\n'
               f'  chain post {{ type nat hook postrouting priority srcnat; oifname "{public_if}" masquerade; }}')
        inbound = f'iifname "{public_if}" ct status dnat accept'
    return f"""table ip nat {{
  {nat}
}}
table ip filter {{
  chain forward {{ type filter hook forward priority filter; policy accept;
    iifname "{public_if}" ct state established,related accept
    {inbound}
    iifname "{public_if}" drop
  }}
}}
"""


class NatTab:
    """One tab's LAN namespace behind its own NAT namespace, attached to the wan bridge."""

    def __init__(self, k: int, tmp: Path, chromium: str, symmetric: bool = True):
        self.k, self.holders = k, []
        try:
            nat, lan = _namespace(), None
            self.holders.append(nat)
            lan = _namespace()
            self.holders.append(lan)
            self.public, self.address = f"10.99.0.{10 + k}", f"10.1.{k}.2"
            pub, up = f"nu{k}", f"nw{k}"
            sh("ip", "link", "add", up, "type", "veth", "peer", "name", pub)
            sh("ip", "link", "set", pub, "netns", str(nat.pid))
            sh("ip", "link", "set", up, "master", "natbr")
            sh("ip", "link", "set", up, "up")
            sh("ip", "link", "add", "nl", "type", "veth", "peer", "name", "tl", ns=nat.pid)
            sh("ip", "link", "set", "tl", "netns", str(lan.pid), ns=nat.pid)
            for cmd in (["ip", "addr", "add", f"{self.public}/24", "dev", pub], ["ip", "link", "set", pub, "up"],
                        ["ip", "addr", "add", f"10.1.{k}.1/24", "dev", "nl"], ["ip", "link", "set", "nl", "up"],
                        ["ip", "route", "add", "default", "via", WAN],
                        ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]):
                sh(*cmd, ns=nat.pid)
            sh("nft", "-f", "-", ns=nat.pid, stdin=_nat_rules(pub, self.address, symmetric))
            for cmd in (["ip", "addr", "add", f"{self.address}/24", "dev", "tl"], ["ip", "link", "set", "tl", "up"],
                        ["ip", "route", "add", "default", "via", f"10.1.{k}.1"]):
                sh(*cmd, ns=lan.pid)
            deadline = time.monotonic() + 10
            while "LOWER_UP" not in sh("ip", "-o", "link", "show", "tl", ns=lan.pid):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tab {k}'s link never came up")
                time.sleep(0.05)
            self.wrapper = tmp / f"chromium-nat{k}"
            self.wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{lan.pid}/ns/net -- {chromium} "$@"\n')
            self.wrapper.chmod(0o755)
        except BaseException:
            self.close()
            raise

    def close(self):
        subprocess.run(["ip", "link", "del", f"nw{self.k}"], capture_output=True)
        for holder in self.holders:
            holder.kill()
            holder.wait()
        self.holders = []


class Wan:
    """The public side: the bridge `natbr` at WAN in our namespace, which forwards nothing. A
    context manager; the page server and coturn listen on WAN while it is up."""

    def __enter__(self):
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "natbr", "type", "bridge")
        try:
            sh("ip", "addr", "add", f"{WAN}/24", "dev", "natbr")
            sh("ip", "link", "set", "natbr", "up")
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "link", "del", "natbr"], capture_output=True)


class NatNetwork:
    """n tabs behind NATs on the wan bridge; a context manager that removes them."""

    def __init__(self, n: int, tmp: Path, chromium: str, symmetric: bool = True):
        self.n, self.tmp, self.chromium, self.symmetric = n, tmp, chromium, symmetric
        self.tabs: list[NatTab] = []

    def __enter__(self):
        try:
            for k in range(1, self.n + 1):
                self.tabs.append(NatTab(k, self.tmp, self.chromium, self.symmetric))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for tab in self.tabs:
            tab.close()
        self.tabs = []


class Turn:
    """coturn on the wan address (inside `Wan`), a static long-term user, relay ports in a small
    range. 10.x peers are allowed by coturn's defaults (loopback ones are not)."""

    def __init__(self, tmp: Path):
        self.log = tmp / "turnserver.log"
        self.proc = subprocess.Popen(
            ["turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--listening-ip", WAN, "--relay-ip", WAN,
             "--listening-port", "3478", "--min-port", str(RELAY_PORTS[0]), "--max-port", str(RELAY_PORTS[1]),
             "--lt-cred-mech", "--realm", "rakis", "--user", f"{TURN_USER}:{TURN_PASSWORD}", "--fingerprint",
             "--no-software-attribute", "--simple-log", "--log-file", str(self.log),
             "--pidfile", str(tmp / "turnserver.pid"), "--userdb", str(tmp / "turndb")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while f"{WAN}:3478" not in sh("ss", "-lun"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"turnserver did not start: {self.log.read_text()[-2000:] if self.log.exists() else ''}")
            time.sleep(0.1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ice(mode: str) -> list[dict]:
    """The ICE servers handed to the page: "none", "stun" (coturn's STUN side) or "turn"."""
    if mode == "none":
        return []
    if mode == "stun":
        return [{"urls": f"stun:{WAN}:3478"}]
    return [{"urls": f"turn:{WAN}:3478?transport=udp", "username": TURN_USER, "credential": TURN_PASSWORD}]


def _links(page) -> set[tuple[str, str]]:
    return {(l["channel"], l["synthientId"]) for l in page.evaluate("window.rakis.network().links")}


def run_tabs(pw, dist: Path, tmp: Path, chromium: str, ice_servers: list, n: int, wait_s: float,
             symmetric: bool = True, request: bool = False, tag: str = "") -> dict:
    """n follower tabs behind NATs, on one page server handing them ice_servers (as
    `rakis serve --ice-servers` does): which of their pairs linked on every channel within wait_s,
    how long each took (s after the last tab was ready), the candidate types ICE chose, and, with
    `request`, whether a request submitted in the first tab reached every other one. Runs inside
    `Wan` (and `Turn` for TURN)."""
    from rakis_py.serve import tls
    from rakis_py.serve.relays import LocalRelays
    from rakis_py.serve.site_config import SiteConfig
    from rakis_py.serve.static import StaticServer
    from rakis_py.serve.ws_proxy import relay_path

    tmp.mkdir(parents=True, exist_ok=True)
    browsers, relays, server = [], None, None
    with NatNetwork(n, tmp, chromium, symmetric) as net:
        try:
            relays = LocalRelays("127.0.0.1", mqtt=True).start()
            ports = relays.ports()
            config = SiteConfig(topic=f"nat-{os.getpid()}-{tag}-{time.monotonic_ns()}", relay_ports=ports,
                                proxied=True, tls=True, ice_servers=ice_servers)
            cert = tls.self_signed(tmp / "tls", ["lan.test"])
            server = StaticServer(dist, WAN, 0, config.to_json, ssl_context=cert.ssl_context(),
                                  ws_routes={relay_path(c): ("127.0.0.1", p) for c, p in ports.items()}).start()
            config.page_port = server.port
            pages = []
            for tab in net.tabs:
                browser = pw.chromium.launch(executable_path=str(tab.wrapper), headless=True, args=CHROMIUM_ARGS)
                browsers.append(browser)
                context = browser.new_context(bypass_csp=True)   # wait_for_function evaluates with eval
                context.add_init_script(RECORD_PCS)
                page = context.new_page()
                page.goto(f"https://lan.test:{server.port}/index.html?llmWorkers=0&embeddingWorkers=0")
                page.fill("#identity-password", f"nat tab {tab.k}")
                page.click("#identity-submit", timeout=BOOT_MS)
                pages.append(page)
            ids = []
            for page in pages:
                page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
                assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#errors")
                ids.append(page.evaluate("window.rakis.status().synthientId"))
            channels = sorted({h["name"] for h in pages[0].evaluate("window.rakis.network().channels")})
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
            linked_at: dict[tuple[int, int], float] = {}
            channel_at: dict[str, list[float]] = {c: [] for c in channels}   # per pair, when each channel linked
            seen: set[tuple[int, int, str]] = set()
            t0 = time.monotonic()
            while True:
                links = [_links(p) for p in pages]
                for i, j in pairs:
                    for c in channels:
                        if (i, j, c) not in seen and (c, ids[j]) in links[i] and (c, ids[i]) in links[j]:
                            seen.add((i, j, c))
                            channel_at[c].append(round(time.monotonic() - t0, 1))
                    if (i, j) not in linked_at and all((c, ids[j]) in links[i] and (c, ids[i]) in links[j]
                                                       for c in channels):
                        linked_at[(i, j)] = round(time.monotonic() - t0, 1)
                if len(linked_at) == len(pairs) or time.monotonic() - t0 > wait_s:
                    break
                pages[0].wait_for_timeout(500)
            any_channel = sum(1 for i, j in pairs if any((c, ids[j]) in links[i] for c in channels))
            result = {
                "tabs": n, "pairs": len(pairs), "linked": len(linked_at), "linked_any_channel": any_channel,
                "channels": channels, "seconds_to_link": sorted(linked_at.values()),
                "seconds_to_link_per_channel": {c: sorted(v) for c, v in channel_at.items()},
                "waited_s": round(time.monotonic() - t0, 1),
                "relays_open": all(h["relay"] == "open" for p in pages for h in p.evaluate("window.rakis.network().channels")),
                "candidate_types": sorted({f"{a}->{b}" for p in pages for a, b in p.evaluate(SELECTED_PAIRS)}),
            }
            if request:
                rid = pages[0].evaluate("window.rakis.submit({prompt: 'Name a colour.', quorum: 1, timeMs: 60000, maxTokens: 8})")
                seen = 0
                for page in pages[1:]:
                    try:
                        page.wait_for_function("async (rid) => JSON.stringify(await window.rakis.requests()).includes(rid)",
                                               arg=rid, timeout=30_000, polling=500)
                        seen += 1
                    except Exception:
                        pass
                result["request_seen_by"] = seen
            return result
        finally:
            for browser in browsers:
                browser.close()
            if server:
                server.stop()
            if relays:
                relays.stop()
