"""Network figures. mesh_s_N: N tabs of a minimal page around web/js/transport (as built in
dist/js/transport, as tests/serve does) meet over the local relays; the figure is the time from the
first navigation until every tab has the hello of every other tab on every relay channel.

The node-level figures run 4 tabs of the real page (each its own profile, identity and node with
both model workers) on a fresh network name over the local relays, submit quorum-3 requests from
different tabs at once and read every tab's view of them: consensus_overhead_s (request deadline to
consensus on the last tab), agreement_4tabs (share of requests whose outcome is identical and
successful on all 4), and from the tabs' exported datasets (window.rakis.exportDataset(); each
packet counted once over the 4 tabs and token counts of every tab's own inferences, datasets.py):
packets_per_request_n4, bytes_per_token, tokens_per_packet. A page that does not network its node
gives null with that reason."""

from __future__ import annotations

import json
import re
import time
import uuid

from . import datasets as ds
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
    for name, n in (("mesh_s_2", 2), ("mesh_s_4", 4), ("mesh_s_8", 8)):
        if name in wanted:
            times = [mesh_once(ctx, n) for _ in range(ctx.runs(2, 5))]
            out[name] = summarize(times, "s", 2, f"{n} tabs of one chromium, full mesh on "
                                  f"{'+'.join(s.channels())} via local relays, from first navigation")
    return out


def node_networked(boot_js: str) -> bool:
    """Does the built page connect its node to the Trystero network (not only the loopback)?"""
    code = "\n".join(line for line in boot_js.splitlines() if not line.strip().startswith("//"))
    return re.search(r"new\s+NetworkTransport\s*\(", code) is not None


NODE_TABS = 4
PASSWORD = "rakis bench"
BOOT_TIMEOUT_MS = 300_000   # Pyodide + rakis_py + both models in 4 tabs sharing the machine
PROMPT = "What is the capital of France?"
# The tab's dataset as JSON Lines once every record so far is in IndexedDB; null: no export yet.
EXPORT = """async () => { if (typeof window.rakis.exportDataset !== "function") return null;
  await window.rakis.flushed(); return (await window.rakis.exportDataset()).text; }"""
LINKED = """([others, channels]) => { const l = window.rakis.network().links;
  return channels.every((c) => others.every((o) => l.some((x) => x.channel === c && x.synthientId === o))); }"""


def _open_node(s, topic: str):
    context = s.new_context()
    page = context.new_page()
    page.goto(f"{s.url}index.html?network={topic}")
    page.wait_for_function("typeof window.rakis?.unlock === 'function' && "
                           "!String(window.rakis.unlock).includes('still starting')", timeout=BOOT_TIMEOUT_MS)
    page.evaluate("pw => window.rakis.unlock(pw)", PASSWORD)
    return context, page


def _wait_final(page, rid: str, timeout_s: float) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while True:
        view = page.evaluate("id => window.rakis.request(id)", rid)
        if view and view["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return view
        page.wait_for_timeout(500)


def _outcome(view: dict | None) -> dict | None:
    """What must be identical on every tab: status, winner, output, accepted set, commit set."""
    c = (view or {}).get("consensus")
    if not c:
        return None
    p = c.get("computedQuorumPacket") or {}
    win = p.get("validSingleInference") or {}
    return {"status": view["status"], "success": c.get("success"), "output": win.get("output"),
            "winner": win.get("bEmbeddingHash"), "accepted": sorted(x["inferenceId"] for x in p.get("validInferences", [])),
            "commitSetHash": c.get("commitSetHash")}


def run_node_tabs(ctx: Context, requests: int, time_ms: int, max_tokens: int) -> tuple[list[dict], list | None]:
    """4 node tabs on the local relays; `requests` quorum-3 requests submitted together from
    different tabs. Returns (per request: outcomes per tab, deadline -> last tab's consensus;
    the 4 tabs' exported datasets as record lists, or None when the page exports none)."""
    s = session(ctx)
    channels = s.channels()
    if not channels:
        raise Unavailable("no local relay could start (nostr-sdk / mosquitto missing)")
    topic = f"bench-nodes-{uuid.uuid4().hex[:8]}"
    contexts, pages = [], []
    try:
        t0 = time.monotonic()
        for _ in range(NODE_TABS):
            c, p = _open_node(s, topic)
            contexts.append(c)
            pages.append(p)
        for p in pages:
            p.wait_for_function("document.body.dataset.ready", timeout=BOOT_TIMEOUT_MS)
            if p.evaluate("document.body.dataset.ready") != "true":
                raise RuntimeError(f"a node tab did not start: {p.inner_text('#errors')[:300]}")
            if p.evaluate("typeof window.rakis.network") != "function":
                raise Unavailable("the page has no window.rakis.network() (links) yet")
        ids = [p.evaluate("window.rakis.status().synthientId") for p in pages]
        for p, me in zip(pages, ids):
            p.wait_for_function(LINKED, arg=[[o for o in ids if o != me], channels], timeout=120_000)
            p.wait_for_function("window.rakis.status().workers.length >= 2 && "
                                "window.rakis.status().workers.every(w => w.state === 'ready')",
                                timeout=BOOT_TIMEOUT_MS)
        ctx.log(f"[bench]   {NODE_TABS} node tabs booted, meshed and models ready in {time.monotonic() - t0:.0f} s")
        rids = []
        for i in range(requests):
            rids.append(pages[i % NODE_TABS].evaluate("o => window.rakis.submit(o)", {
                "prompt": PROMPT, "quorum": 3, "agreement": 50, "timeMs": time_ms,
                "maxTokens": max_tokens, "temperature": 0}))
        views = {rid: [_wait_final(p, rid, time_ms / 1000 + 150) for p in pages] for rid in rids}
        texts = [p.evaluate(EXPORT) for p in pages]
        datasets = None if None in texts else [ds.parse_jsonl(t) for t in texts]
        if any(c.offsite for c in contexts):
            raise RuntimeError(f"a node tab requested off-machine URLs: {[c.offsite[:2] for c in contexts]}")
    finally:
        for c in contexts:
            c.close()
    out = []
    for rid in rids:
        vs = views[rid]
        outcomes = [_outcome(v) for v in vs]
        done = [(v.get("consensus") or {}).get("computedAt") for v in vs if v]
        ending = next((v.get("endingAt") for v in vs if v and v.get("endingAt")), None)
        out.append({
            "requestId": rid,
            "agreed": None not in outcomes and outcomes[0]["success"] is True
                      and all(o == outcomes[0] for o in outcomes),
            "overhead_s": (max(done) - ending) / 1000 if len(done) == NODE_TABS and None not in done and ending else None,
        })
    return out, datasets


def measure_node_network(ctx: Context, wanted: frozenset[str]) -> dict:
    dist = ensure_dist(ctx)
    boot = (dist / "js" / "boot.js").read_text(encoding="utf-8") if (dist / "js" / "boot.js").exists() else ""
    if not node_networked(boot):
        reason = ("the page does not connect its node to the network yet (dist/js/boot.js adds only the "
                  "loopback transport), so 4 networked node tabs cannot be measured")
        return {name: unavailable(reason) for name in wanted}
    n, time_ms, max_tokens = ctx.runs(2, 6), ctx.runs(30_000, 40_000), ctx.runs(12, 32)
    runs, datasets = run_node_tabs(ctx, n, time_ms, max_tokens)
    traffic = ds.request_traffic(datasets, [r["requestId"] for r in runs]) if datasets else {}
    for r in runs:
        t = traffic.get(r["requestId"], {})
        ctx.log(f"[bench]   request {r['requestId']}: agreed {r['agreed']}, deadline -> last tab "
                f"{r['overhead_s']} s, {t.get('packets')} packets, {t.get('bytes')} bytes, "
                f"{t.get('tokens')} tokens {t.get('by_type')}")
    note = (f"{NODE_TABS} node tabs, {n} quorum-3 requests submitted together (v2, {time_ms // 1000} s, "
            f"{max_tokens} tokens max)")
    out = {}
    overhead = [r["overhead_s"] for r in runs if r["overhead_s"] is not None]
    out["consensus_overhead_s"] = (summarize(overhead, "s", 2, note + "; deadline -> consensus on the last tab")
                                   if overhead else unavailable("no request reached consensus on all 4 tabs"))
    agreed = sum(1 for r in runs if r["agreed"])
    out["agreement_4tabs"] = summarize([agreed / len(runs)], "share", 3,
                                       note + f"; {agreed} of {len(runs)} quorums identical on all tabs")
    out.update(traffic_figures(traffic, note))
    return {k: v for k, v in out.items() if k in wanted}


def traffic_figures(traffic: dict[str, dict], note: str) -> dict:
    """packets_per_request_n4 (one value per request), bytes_per_token and tokens_per_packet (one
    value for the run) from `datasets.request_traffic` of the tabs' exported datasets."""
    names = ("packets_per_request_n4", "bytes_per_token", "tokens_per_packet")
    if not traffic:
        return {n: unavailable("the page exports no dataset (window.rakis.exportDataset)") for n in names}
    total = ds.traffic_totals(traffic.values())
    src = ("; from the 4 tabs' exported datasets (window.rakis.exportDataset()): the requests' packets, "
           "each counted once over the tabs (first deliveries, deduplicated by sender, type, requestId "
           "and createdAt), their encoded sizes, and the exact token counts of every tab's own inference")
    if total["unsized"]:
        src += f"; {total['unsized']} packets without a recorded size counted as 0 bytes"
    out = {"packets_per_request_n4": summarize([t["packets"] for t in traffic.values()], "packets", 1, note + src)}
    out["bytes_per_token"] = (summarize([total["bytes_per_token"]], "bytes/token", 1,
                                        note + src + f"; one value for the run: {total['bytes']} bytes / "
                                        f"{total['tokens']} tokens")
                              if total["bytes_per_token"] is not None else unavailable("no tokens were generated"))
    out["tokens_per_packet"] = (summarize([total["tokens_per_packet"]], "tokens/packet", 3,
                                          note + src + f"; one value for the run: {total['tokens']} tokens / "
                                          f"{total['packets']} packets")
                                if total["tokens_per_packet"] is not None
                                else unavailable("no packets or tokens were counted"))
    return out


MESH = Group("network-mesh", ("mesh_s_2", "mesh_s_4", "mesh_s_8"), measure_mesh)
NODES = Group("network-nodes", NODE_FIGURES, measure_node_network)
