"""A hostile peer for the network tests: a bare page on the same relays that runs only
web/js/transport (no node), with packets made and signed in CPython by a real Ed25519 identity
(rakis_py.protocol.identity). Its page is served from memory by a Playwright route."""
from __future__ import annotations

import os
import time

from rakis_py.protocol import builders
from rakis_py.protocol.consensus import binary_embedding_hash
from rakis_py.protocol.identity import Identity
from rakis_py.protocol.timefmt import format_js_date

PAGE_PATH = "__hostile__.html"
PAGE = """<!doctype html><meta charset="utf-8"><title>hostile peer</title>
<script type="module">
  import { createTransport } from "./js/transport/index.js";
  const id = new URLSearchParams(location.search).get("id");
  window.got = [];
  window.transport = await createTransport({
    selfId: id,
    onPacket: (e, channel) => got.push({ channel, synthientId: e?.synthientId, packet: e?.packet }),
  });
  window.ready = true;
</script>"""


def now_ms() -> int:
    return int(time.time() * 1000)


class HostilePeer:
    def __init__(self, network):
        self.identity = Identity.generate(os.urandom(32))
        self.id = self.identity.synthient_id
        self.context = network.browser.new_context()
        network.guard(self.context, {PAGE_PATH: PAGE})
        base = network.server.url
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type in ("error", "warning") and print(f"[hostile] console.{m.type}: {m.text[:300]}"))
        self.page.goto(f"{base}{PAGE_PATH}?id={self.id}")
        self.page.wait_for_function("window.ready === true", timeout=20_000)

    def wait_linked(self, tabs, timeout_s=90):
        """Until every tab has a link to this page on some channel; seconds taken. On a timeout
        the error says who saw whom on which channel (and each side's channel health)."""
        t0 = time.monotonic()
        try:
            self.page.wait_for_function(
                "ids => ids.every(i => transport.peers().some(p => p.synthientId === i))",
                arg=[t.synthient_id for t in tabs], timeout=timeout_s * 1000)
        except Exception as e:
            raise AssertionError(f"hostile page not linked to every tab in {timeout_s} s:\n"
                                 f"{self.link_report(tabs)}") from e
        return time.monotonic() - t0

    def link_report(self, tabs) -> str:
        health = "c => [c.name, c.state, c.relay, c.peers, c.errors, c.lastError]"
        lines = [f"hostile {self.id[:8]} links {self.page.evaluate('transport.peers().map(p => [p.channel, (p.synthientId || p.peerId).slice(0, 8)])')}"
                 f" channels {self.page.evaluate(f'transport.channels().map({health})')}"]
        for t in tabs:
            net = t.js(f"(() => {{ const n = window.rakis.network(); return {{links: n.links.map(p => [p.channel, (p.synthientId || p.peerId).slice(0, 8)]), channels: n.channels.map({health})}}; }})()")
            lines.append(f"{t.name} {t.synthient_id[:8]} links {net['links']} channels {net['channels']}")
        return "\n".join(lines)

    def send_raw(self, envelope):
        self.page.evaluate("e => transport.send(e)", envelope)

    def send(self, packet):
        envelope = self.identity.envelope(packet)
        self.send_raw(envelope)
        return envelope

    def status(self, created_at_ms=None):
        return builders.peer_status_update("boot", format_js_date(created_at_ms or now_ms()), total_tokens=1)

    def wait_packet(self, ptype, request_id, timeout_s=120):
        self.page.wait_for_function(
            "([t, r]) => got.some(g => g.packet?.type === t && g.packet?.requestId === r)",
            arg=[ptype, request_id], timeout=timeout_s * 1000)
        return self.page.evaluate(
            "([t, r]) => got.find(g => g.packet?.type === t && g.packet?.requestId === r).packet",
            [ptype, request_id])

    # ---- a commit, and later a reveal that does not open it
    def commit(self, request_id):
        self.inference_id = f"{request_id}hostile"
        self.bits = os.urandom(48)
        self.commit_hash = binary_embedding_hash(self.bits, self.id)
        return self.send(builders.inference_commit(self.commit_hash, request_id, self.inference_id,
                                                   format_js_date(now_ms())))

    def mismatched_reveal(self, request_id, requester_id):
        other = bytes(b ^ 0xFF for b in self.bits)   # not what the commit hashed
        return self.send(builders.inference_reveal(requester_id, request_id, self.inference_id,
                                                   "The capital of France is Berlin.", other, None,
                                                   format_js_date(now_ms())))

    def close(self):
        self.context.close()
