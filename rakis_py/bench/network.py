"""Network figures. mesh_s_N: N tabs of a minimal page around web/js/transport (as built in
dist/js/transport, as tests/serve does) meet over the local relays; the figure is the time from the
first navigation until every tab has the hello of every other tab on every relay channel.

The node-level figures run 4 tabs of the real page (each its own profile, identity and node with
both model workers) on a fresh network name over the local relays, submit rounds of quorum-3
requests from different tabs at once (2 rounds of 2 in quick mode, 3 of 2 in full) and read every
tab's view of them and, at the end, every tab's exported dataset (window.rakis.exportDataset()).
A request's result is identical when every tab's own consensus has the same status, winner,
output, joint hash, accepted set and commit set, and every published result of it (the tabs'
`published` records) names the same winner, joint hash and commit set (`judge`).
consensus_overhead_s: request deadline to the identical result on the last tab, per request; null
with the reason when any request of the run was not identical on all 4 tabs. agreement_4tabs: per
round, the share of its quorums with the identical result on every tab. From the datasets (each
packet counted once over the 4 tabs, exact token counts of every tab's own inference; datasets.py):
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
    return {"status": view["status"], "success": c.get("success"), "reason": c.get("reason"),
            "output": win.get("output"), "winner": win.get("bEmbeddingHash"),
            "jointHash": p.get("validInferenceJointHash"),
            "accepted": sorted(x["inferenceId"] for x in p.get("validInferences", [])),
            "commitSetHash": c.get("commitSetHash")}


def judge(views: list[dict | None], datasets: list | None, tabs: int = NODE_TABS) -> dict:
    """One request as the 4 tabs saw it: is the result identical on every tab (each tab's own
    consensus: same status, success, winner, output, joint hash, accepted set and commit set; and,
    when the tabs' datasets are given, every published result of it the same), why not, and the
    seconds from its deadline to the identical result on the last tab (None unless identical)."""
    why = []
    outcomes = [_outcome(v) for v in views]
    missing = [i for i, o in enumerate(outcomes) if o is None]
    if len(views) < tabs:
        why.append(f"only {len(views)} of {tabs} tabs seen")
    if missing:
        why.append(f"no consensus on tab(s) {', '.join(map(str, missing))}")
    present = [o for o in outcomes if o is not None]
    if present:
        for field in present[0]:
            values = [o[field] for o in present]
            if any(v != values[0] for v in values):
                shown = ", ".join(f"tab {i}: {str(o[field])[:16]}" for i, o in enumerate(outcomes) if o)
                why.append(f"{field} differs ({shown})")
        if not why and present[0]["success"] is not True:
            why.append(f"consensus failed on every tab ({present[0]['reason']})")
    rid = next((v["requestId"] for v in views if v), None)
    if datasets is not None and rid is not None:
        pubs = ds.published_results(datasets, rid)
        if not pubs and not why:
            why.append("no published result in any tab's dataset")
        why += [f"published results: {d}" for d in ds.published_differences(datasets, rid)]
        winners = {p.get("bEmbeddingHash") for p in pubs.values()} - {None}
        if present and winners and winners != {present[0]["winner"]}:
            why.append("published winner differs from the tabs' own result")
    done = [(v.get("consensus") or {}).get("computedAt") for v in views if v]
    ending = next((v.get("endingAt") for v in views if v and v.get("endingAt")), None)
    overhead = (max(done) - ending) / 1000 if not why and ending and None not in done else None
    return {"requestId": rid, "identical": not why, "why": "; ".join(why), "overhead_s": overhead}


def run_node_tabs(ctx: Context, rounds: int, per_round: int, time_ms: int,
                  max_tokens: int) -> tuple[list[list[str]], dict, list | None]:
    """4 node tabs on the local relays; `rounds` times, `per_round` quorum-3 requests submitted
    together from different tabs, the next round once every tab has finished the last. Returns
    (the request ids of each round, requestId -> the 4 tabs' views, the 4 tabs' exported datasets
    as record lists, or None when the page exports none)."""
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
        round_ids, views = [], {}
        for r in range(rounds):
            rids = []
            for i in range(per_round):
                rids.append(pages[(r * per_round + i) % NODE_TABS].evaluate("o => window.rakis.submit(o)", {
                    "prompt": PROMPT, "quorum": 3, "agreement": 50, "timeMs": time_ms,
                    "maxTokens": max_tokens, "temperature": 0}))
            views.update({rid: [_wait_final(p, rid, time_ms / 1000 + 150) for p in pages] for rid in rids})
            round_ids.append(rids)
            ctx.log(f"[bench]   round {r + 1} of {rounds} done at {time.monotonic() - t0:.0f} s")
        texts = [p.evaluate(EXPORT) for p in pages]
        datasets = None if None in texts else [ds.parse_jsonl(t) for t in texts]
        if any(c.offsite for c in contexts):
            raise RuntimeError(f"a node tab requested off-machine URLs: {[c.offsite[:2] for c in contexts]}")
    finally:
        for c in contexts:
            c.close()
    return round_ids, views, datasets


def measure_node_network(ctx: Context, wanted: frozenset[str]) -> dict:
    dist = ensure_dist(ctx)
    boot = (dist / "js" / "boot.js").read_text(encoding="utf-8") if (dist / "js" / "boot.js").exists() else ""
    if not node_networked(boot):
        reason = ("the page does not connect its node to the network yet (dist/js/boot.js adds only the "
                  "loopback transport), so 4 networked node tabs cannot be measured")
        return {name: unavailable(reason) for name in wanted}
    rounds, per_round = ctx.runs(2, 3), 2
    time_ms, max_tokens = ctx.runs(30_000, 40_000), ctx.runs(12, 32)
    round_ids, views, datasets = run_node_tabs(ctx, rounds, per_round, time_ms, max_tokens)
    all_ids = [rid for ids in round_ids for rid in ids]
    verdicts = [{**judge(views[rid], datasets), "round": r} for r, ids in enumerate(round_ids) for rid in ids]
    traffic = ds.request_traffic(datasets, all_ids) if datasets else {}
    for v in verdicts:
        t = traffic.get(v["requestId"], {})
        ctx.log(f"[bench]   request {v['requestId']}: identical on all tabs {v['identical']} {v['why']}, "
                f"deadline -> last tab {v['overhead_s']} s, {t.get('packets')} packets, {t.get('bytes')} "
                f"bytes, {t.get('tokens')} tokens {t.get('by_type')}")
    note = (f"{NODE_TABS} node tabs, {rounds} rounds of {per_round} quorum-3 requests submitted together "
            f"(v2, {time_ms // 1000} s, {max_tokens} tokens max)")
    out = consensus_figures(verdicts, note, published=datasets is not None)
    out.update(traffic_figures(traffic, round_ids, note))
    return {k: v for k, v in out.items() if k in wanted}


def consensus_figures(verdicts: list[dict], note: str, published: bool = True) -> dict:
    """consensus_overhead_s: deadline -> the identical result on the last of the 4 tabs, one value
    per request; null (a failure, not a number) when any request of the run did not reach the
    identical result on every tab. agreement_4tabs: per round, the share of its quorums whose
    result was identical on every tab (`judge`); the note gives the count over the whole run."""
    what = ("each tab's own consensus (status, winner, output, joint hash, accepted set, commit set)"
            + (" and every published result in the tabs' datasets" if published else
               "; the page exports no dataset, so published results were not compared"))
    out = {}
    bad = [v for v in verdicts if not v["identical"]]
    if not verdicts:
        out["consensus_overhead_s"] = unavailable("no request was run")
    elif bad:
        ok = [v["overhead_s"] for v in verdicts if v["identical"]]
        out["consensus_overhead_s"] = unavailable(
            f"{len(bad)} of {len(verdicts)} requests did not reach the identical result on all {NODE_TABS} "
            f"tabs: " + " | ".join(f"{v['requestId']}: {v['why']}" for v in bad)[:600]
            + (f" (the identical ones: {ok} s)" if ok else ""))
    else:
        out["consensus_overhead_s"] = summarize([v["overhead_s"] for v in verdicts], "s", 2,
                                                note + f"; deadline -> the identical result on the last tab, "
                                                f"checked on {what}")
    rounds = sorted({v["round"] for v in verdicts})
    if rounds:
        shares = [sum(v["identical"] for v in verdicts if v["round"] == r) /
                  sum(1 for v in verdicts if v["round"] == r) for r in rounds]
        agreed = sum(v["identical"] for v in verdicts)
        out["agreement_4tabs"] = summarize(shares, "share", 3, note + f"; one share per round; {agreed} of "
                                           f"{len(verdicts)} quorums identical on all tabs: {what}")
    else:
        out["agreement_4tabs"] = unavailable("no request was run")
    return out


def traffic_figures(traffic: dict[str, dict], rounds: list[list[str]], note: str) -> dict:
    """packets_per_request_n4 (one value per request), bytes_per_token and tokens_per_packet (one
    value per round of requests) from `datasets.request_traffic` of the tabs' exported datasets."""
    names = ("packets_per_request_n4", "bytes_per_token", "tokens_per_packet")
    if not traffic:
        return {n: unavailable("the page exports no dataset (window.rakis.exportDataset)") for n in names}
    per_round = [ds.traffic_totals(traffic[rid] for rid in ids if rid in traffic) for ids in rounds]
    total = ds.traffic_totals(traffic.values())
    src = ("; from the 4 tabs' exported datasets (window.rakis.exportDataset()): the requests' packets, "
           "each counted once over the tabs (first deliveries, deduplicated by sender, type, requestId "
           "and createdAt), their encoded sizes, and the exact token counts of every tab's own inference")
    if total["unsized"]:
        src += f"; {total['unsized']} packets without a recorded size counted as 0 bytes"
    whole = f"; whole run: {total['bytes']} bytes, {total['tokens']} tokens, {total['packets']} packets"
    out = {"packets_per_request_n4": summarize([t["packets"] for t in traffic.values()], "packets", 1, note + src)}
    bpt = [t["bytes_per_token"] for t in per_round if t["bytes_per_token"] is not None]
    out["bytes_per_token"] = (summarize(bpt, "bytes/token", 1, note + src + "; one value per round" + whole)
                              if bpt else unavailable("no tokens were generated"))
    tpp = [t["tokens_per_packet"] for t in per_round if t["tokens_per_packet"] is not None]
    out["tokens_per_packet"] = (summarize(tpp, "tokens/packet", 3, note + src + "; one value per round" + whole)
                                if tpp else unavailable("no packets or tokens were counted"))
    return out


MESH = Group("network-mesh", ("mesh_s_2", "mesh_s_4", "mesh_s_8"), measure_mesh)
NODES = Group("network-nodes", NODE_FIGURES, measure_node_network)
