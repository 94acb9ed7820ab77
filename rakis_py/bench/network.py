"""Network figures. mesh_s_N: N tabs of a minimal page around web/js/transport (as built in
dist/js/transport, as tests/serve does) meet over the local relays; the figure is the time from the
first navigation until every tab has the hello of every other tab on every relay channel.

The node-level figures (consensus overhead, agreement, bytes and packets per request) need 4 tabs
running the node on the network. While the page connects its node only to the loopback transport
they are reported as null with that reason: nothing is faked."""

from __future__ import annotations

import json
import re
import time
import uuid

from .chromium import PAGES, ensure_dist, session
from .runner import Context, Group, Unavailable, summarize, unavailable

TRANSPORT_PAGE = "__bench_transport__.html"
MESH_TIMEOUT_S = 60
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>bench transport</title>
<script type="module">
  import { createTransport } from "./js/transport/index.js";
  // The local relays' config, fetched without the page's 3 s fallback to public relays.
  const config = await (await fetch("rakis-config.json", { cache: "no-store" })).json();
  window.transport = await createTransport({
    selfId: new URLSearchParams(location.search).get("id"), config,
    onPacket: () => {}, onPeer: () => {}, onChange: () => {},
  });
  window.ready = true;
</script>"""
PAGES[TRANSPORT_PAGE] = PAGE
MESHED = """([others, channels]) => channels.every((c) => others.every((id) =>
  window.transport.peers().some((p) => p.channel === c && p.synthientId === id)))"""

NODE_FIGURES = ("consensus_overhead_s", "agreement_4tabs", "bytes_per_token", "tokens_per_packet",
                "packets_per_request_n4")


def mesh_once(ctx: Context, n: int) -> float:
    s = session(ctx)
    channels = s.channels()
    if not channels:
        raise Unavailable("no local relay could start (nostr-sdk / mosquitto missing)")
    s.config.topic = f"bench-mesh-{uuid.uuid4().hex[:8]}"   # a fresh room: no peers of earlier runs
    ids = [f"{i + 1:x}" * 64 for i in range(n)]
    context = s.new_context()
    try:
        t0 = time.monotonic()
        pages = []
        for sid in ids:
            page = context.new_page()
            page.goto(f"{s.url}{TRANSPORT_PAGE}?id={sid}")
            pages.append(page)
        deadline = t0 + MESH_TIMEOUT_S
        pending = list(zip(pages, ids))
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no full mesh of {n} tabs on {channels} within {MESH_TIMEOUT_S} s")
            pending = [(p, sid) for p, sid in pending
                       if not p.evaluate(f"window.ready === true && ({MESHED})(%s)" % json.dumps(
                           [[o for o in ids if o != sid], channels]))]
            if pending:
                time.sleep(0.05)
        elapsed = time.monotonic() - t0
        if context.offsite:
            raise RuntimeError(f"the page requested off-machine URLs: {context.offsite[:3]}")
        return elapsed
    finally:
        context.close()


def measure_mesh(ctx: Context, wanted: frozenset[str]) -> dict:
    s = session(ctx)
    out = {}
    for name, n in (("mesh_s_4", 4), ("mesh_s_8", 8)):
        if name in wanted:
            times = [mesh_once(ctx, n) for _ in range(ctx.runs(2, 5))]
            out[name] = summarize(times, "s", 2, f"{n} tabs of one chromium, full mesh on "
                                  f"{'+'.join(s.channels())} via local relays, from first navigation")
    return out


def node_networked(boot_js: str) -> bool:
    """Does the built page connect its node to the Trystero network (not only the loopback)?"""
    code = "\n".join(line for line in boot_js.splitlines() if not line.strip().startswith("//"))
    return re.search(r"new\s+NetworkTransport\s*\(", code) is not None


def measure_node_network(ctx: Context, wanted: frozenset[str]) -> dict:
    dist = ensure_dist(ctx)
    boot = (dist / "js" / "boot.js").read_text(encoding="utf-8") if (dist / "js" / "boot.js").exists() else ""
    if not node_networked(boot):
        reason = ("the page does not connect its node to the network yet (dist/js/boot.js adds only the "
                  "loopback transport), so 4 networked node tabs cannot be measured")
    else:
        reason = "the page is networked, but the 4-tab node run of rakis bench is not written yet"
    return {name: unavailable(reason) for name in wanted}


MESH = Group("network-mesh", ("mesh_s_4", "mesh_s_8"), measure_mesh)
NODES = Group("network-nodes", NODE_FIGURES, measure_node_network)
