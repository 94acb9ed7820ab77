"""Tabs that cannot reach each other directly (a first harness for the NAT figure, docs/faults.md).

Each tab's Chromium runs in its own network namespace, joined to the test's namespace (the "wan":
page server, relays, later the TURN server) by a veth pair: 10.1.k.2 on the tab's side, 10.1.k.1
on the wan side. With IPv4 forwarding off in the wan namespace no tab has a route to another tab's
address, so every host candidate fails, as between two users behind NATs that do not let hole
punching through; with forwarding on the tabs route to each other (the control: the harness can
link at all). The TURN case (coturn from Debian, handed to the page by `serve --ice-servers`)
skips, naming the package, when `turnserver` is not installed.

Needs root in its own network namespace (`./dev test` gives one: unshare --net) and iproute2.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

BOOT_MS = 180_000
LINK_S = 150           # a handshake that times out is retried at the next announce, 60 s later
NO_LINK_S = 45         # how long tabs without a path must stay unlinked


def sh(*args: str, ns_pid: int | None = None) -> str:
    cmd = (["nsenter", f"--net=/proc/{ns_pid}/ns/net", "--"] if ns_pid else []) + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


class TabNamespace:
    """A network namespace held by a `sleep` process, with a veth link to ours."""

    def __init__(self, k: int, tmp: Path, chromium: str):
        self.k = k
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        pid = self.holder.pid
        # unshare must have made its namespace before a link is moved into the process's one.
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare --net did not start"
            time.sleep(0.05)
        wan, tab = f"vw{k}", f"vt{k}"
        self.gateway, self.address = f"10.1.{k}.1", f"10.1.{k}.2"
        # No IPv6 in the tab's namespace: its link-local address would appear ~1 s after the link
        # is up, and Chromium aborts loads that span a network change (ERR_NETWORK_CHANGED).
        for conf in ("all", "default"):
            sh("sh", "-c", f"echo 1 > /proc/sys/net/ipv6/conf/{conf}/disable_ipv6", ns_pid=pid)
        sh("ip", "link", "add", wan, "type", "veth", "peer", "name", tab)
        sh("ip", "link", "set", tab, "netns", str(pid))
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", wan)
        sh("ip", "link", "set", wan, "up")
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{self.address}/24", "dev", tab],
                    ["ip", "link", "set", tab, "up"], ["ip", "route", "add", "default", "via", self.gateway]):
            sh(*cmd, ns_pid=pid)
        while "LOWER_UP" not in sh("ip", "-o", "link", "show", tab, ns_pid=pid):
            assert time.monotonic() < deadline + 10, f"{tab} never came up"
            time.sleep(0.05)
        # Playwright starts this wrapper and talks to Chromium over pipes: the namespace does not
        # touch the control channel.
        self.wrapper = tmp / f"chromium-ns{k}"
        self.wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{pid}/ns/net -- {chromium} "$@"\n')
        self.wrapper.chmod(0o755)

    def close(self):
        subprocess.run(["ip", "link", "del", f"vw{self.k}"], capture_output=True)
        self.holder.kill()
        self.holder.wait()


def _prerequisites():
    if os.geteuid() != 0 or os.environ.get("RAKIS_ISOLATED") != "1":
        pytest.skip("needs root in a network namespace of its own (run through ./dev test)")
    for tool in ("ip", "nsenter", "unshare"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    from rakis_py.serve.relays import MosquittoRelay, NostrRelay
    for why in (NostrRelay.available(), MosquittoRelay.available()):
        if why:
            pytest.skip(why)


def forwarding(on: bool):
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n" if on else "0\n")


def linked_pairs(pages, ids) -> int:
    links = [{l["synthientId"] for l in p.evaluate("window.rakis.network().links")} for p in pages]
    return sum(1 for i in range(len(pages)) for j in range(i + 1, len(pages))
               if ids[j] in links[i] and ids[i] in links[j])


def run_tabs(request, node_dist, tmp_path, ice_servers: list, forward: bool, n: int = 2,
             wait_s: float = LINK_S) -> dict:
    """n tabs, each in its own namespace: how many of their pairs linked within wait_s."""
    from rakis_py.serve import tls
    from rakis_py.serve.relays import LocalRelays
    from rakis_py.serve.site_config import SiteConfig
    from rakis_py.serve.static import StaticServer
    from rakis_py.serve.ws_proxy import relay_path
    from tests.build.support import chromium_path
    from tests.serve.test_transport_browser import CHROMIUM_ARGS   # host candidates as addresses, not mDNS

    pw = request.getfixturevalue("playwright_session")
    namespaces, browsers = [], []
    relays = LocalRelays("127.0.0.1", mqtt=True).start()
    ports = relays.ports()
    config = SiteConfig(topic=f"nat-{os.getpid()}-{forward}", relay_ports=ports, proxied=True, tls=True,
                        ice_servers=ice_servers)
    cert = tls.self_signed(tmp_path / f"tls-{forward}", ["lan.test"])
    server = StaticServer(node_dist, "0.0.0.0", 0, config.to_json, ssl_context=cert.ssl_context(),
                          ws_routes={relay_path(c): ("127.0.0.1", p) for c, p in ports.items()}).start()
    config.page_port = server.port
    forwarding(forward)
    try:
        pages, ids = [], []
        for k in range(1, n + 1):
            ns = TabNamespace(k, tmp_path, chromium_path())
            namespaces.append(ns)
            browser = pw.chromium.launch(executable_path=str(ns.wrapper), headless=True, args=CHROMIUM_ARGS + [
                f"--host-resolver-rules=MAP lan.test {ns.gateway}", "--ignore-certificate-errors"])
            browsers.append(browser)
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(f"https://lan.test:{server.port}/index.html?llmWorkers=0&embeddingWorkers=0")
            page.fill("#identity-password", f"nat tab {k}")
            page.click("#identity-submit", timeout=BOOT_MS)
            pages.append(page)
        for page in pages:
            page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
            assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#errors")
            ids.append(page.evaluate("window.rakis.status().synthientId"))
        pairs = n * (n - 1) // 2
        t0 = time.monotonic()
        while linked_pairs(pages, ids) < pairs and time.monotonic() - t0 < wait_s:
            pages[0].wait_for_timeout(1000)
        relays_open = all(h["relay"] == "open" for p in pages for h in p.evaluate("window.rakis.network().channels"))
        return {"pairs": pairs, "linked": linked_pairs(pages, ids), "seconds": round(time.monotonic() - t0, 1),
                "relays_open": relays_open}
    finally:
        for b in browsers:
            b.close()
        for ns in namespaces:
            ns.close()
        forwarding(False)
        server.stop()
        relays.stop()


def test_tabs_in_separate_namespaces_link_only_with_a_route(request, node_dist, tmp_path):
    _prerequisites()
    routed = run_tabs(request, node_dist, tmp_path, [], forward=True)
    assert routed["relays_open"] and routed["linked"] == routed["pairs"], routed
    isolated = run_tabs(request, node_dist, tmp_path, [], forward=False, wait_s=NO_LINK_S)
    assert isolated["relays_open"], isolated          # signalling still works through the relays
    assert isolated["linked"] == 0, isolated          # but no direct path: no link without TURN
    print(f"\nNAT FIGURES routed {routed} isolated-without-TURN {isolated}")


def test_tabs_without_a_route_link_through_turn(request, node_dist, tmp_path):
    _prerequisites()
    if not shutil.which("turnserver"):
        pytest.skip("coturn not installed (apt-get install coturn: Debian bookworm has 4.6.1-1)")
    turn = subprocess.Popen(["turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--listening-ip", "10.1.1.1",
                             "--listening-ip", "10.1.2.1", "--min-port", "49152", "--max-port", "49300",
                             "--lt-cred-mech", "--realm", "rakis", "--user", "test:secret", "--log-file", "stdout"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ice = [{"urls": "turn:10.1.1.1:3478?transport=udp", "username": "test", "credential": "secret"}]
        through_turn = run_tabs(request, node_dist, tmp_path, ice, forward=False)
        print(f"\nNAT FIGURES isolated-with-TURN {through_turn}")
        assert through_turn["linked"] == through_turn["pairs"], through_turn
    finally:
        turn.kill()
        turn.wait()
