"""A hand-built two-observer dataset whose every figure is known (see the comments for the answers).

Observer A ("me") hears 8 peers p1..p8 and sees 10 requests R0..R9; observer B ("you") sees
R0..R7 and R10. Times are T0 + seconds.
"""

from __future__ import annotations

from rakis_py.analytics.io import Dataset
from rakis_py.analytics.schema import SCHEMA, new_record

T0 = 1_720_000_020_000 - 1_720_000_020_000 % 60_000     # a minute boundary
S = 1000
PEERS = [f"p{i}" for i in range(1, 9)]
REQUESTS = [f"R{i}" for i in range(10)]


def _meta(node: str) -> dict:
    return new_record("meta", schema=SCHEMA, node=node, runtime="cpython", started=T0)


def _pkt(t, sender, ptype, channel, size, outcome="accepted", rid=None, tokens=None) -> dict:
    return new_record("packet", t=T0 + t * S, type=ptype, channel=channel, size=size, outcome=outcome,
                      requestId=rid, tokens=tokens, **{"from": sender})


# Published results per request: (publisher, winner hash, submitted count, submitted-set id).
PUBLISHED = {
    "R0": [("me", "h1", 4, "Sa"), ("p1", "h1", 4, "Sa"), ("p2", "h1", 4, "Sa")],   # all four hold
    "R1": [("me", "h1", 4, "Sa"), ("p1", "h1", 4, "Sa"), ("p2", "h1", 4, "Sa")],   # all four hold
    "R2": [("me", "h1", 4, "Sa"), ("p1", "h1", 4, "Sa"), ("p2", "h2", 3, "Sb")],   # maj, count, set
    "R3": [("me", "h1", 4, "Sa"), ("p1", "h2", 3, "Sb"), ("p2", "h2", 3, "Sb")],   # count, set
    "R4": [("me", "h1", 4, "Sa"), ("p1", "h2", 4, "Sc"), ("p2", "h1", 4, "Sa")],   # maj, set
    "R5": [("me", "h1", 4, "Sa"), ("p1", "h2", 4, "Sa"), ("p2", "h2", 4, "Sa")],   # none
    "R6": [("p1", "h1", 4, "Sa"), ("p2", "h1", 4, "Sa"), ("p3", "h2", 3, "Sb")],   # ref h1: maj, count, set
    "R7": [("p1", "h3", 4, "Sa"), ("p2", "h4", 4, "Sd")],                          # ref h3 (tie): set
    "R8": [("p1", "h1", 4, "Sa")],                                                 # one result: not counted
}
# Quorums counted 8; full 2; majority 5; same commit count 5; identical commit sets 7.
# Read as a filter on quorums: one commit count in R0 R1 R4 R5 R7 (full: R0 R1), one commit set
# in R0 R1 R5 (full: R0 R1).
EXPECTED_CONSENSUS = {"quorums": 8, "full": 2, "majority": 5, "same_commit_count": 5, "same_commit_set": 7,
                      "quorums_one_commit_count": 5, "full_one_commit_count": 2,
                      "quorums_one_commit_set": 3, "full_one_commit_set": 2}

# Own consensus runs: R0..R5 succeed with these mean in-cluster distances and centre distances.
CLUSTER = {"R0": (15.0, [10, 20]), "R1": (15.0, [10, 20]), "R2": (35.0, [30, 40]),
           "R3": (55.0, [50, 60]), "R4": (75.0, [70, 80]), "R5": (95.0, [90, 100])}

ZERO_BITS, ONE_BITS = "00" * 48, "ff" * 48


def _flip_hex(hexstr: str, byte: int) -> str:
    b = bytearray(bytes.fromhex(hexstr))
    b[byte] ^= 0x01
    return b.hex()


def build_a() -> Dataset:
    recs = [_meta("me")]
    # Peers: p1, p2, p3 report workers (2, 2, 1) and tokens (1000, 3000, 200 then 500);
    # p1 holds one eth identity, p2 one eth and one sol: 3 identities, eth 2, sol 1.
    recs += [new_record("peer", t=T0, synthientId="p1", totalTokens=1000, totalWorkers=2,
                        chainIds=[{"chain": "eth", "address": "0xA"}]),
             new_record("peer", t=T0, synthientId="p2", totalTokens=3000, totalWorkers=2,
                        chainIds=[{"chain": "eth", "address": "0xB"}, {"chain": "sol", "address": "S1"}]),
             new_record("peer", t=T0, synthientId="p3", totalTokens=200, totalWorkers=1),
             new_record("peer", t=T0 + 120 * S, synthientId="p3", totalTokens=500, totalWorkers=1)]
    recs += [new_record("peer", t=T0, synthientId=p, totalTokens=0, totalWorkers=0) for p in PEERS[3:]]
    # One status packet per peer (100 B): p1..p5 first on nostr, p6..p8 on torrent; every one
    # also arrives as a redundant copy on the other channel (ignored in traffic figures).
    for i, p in enumerate(PEERS):
        first, second = ("nostr", "torrent") if i < 5 else ("torrent", "nostr")
        recs.append(_pkt(i, p, "peerStatusUpdate", first, 100))
        recs.append(_pkt(i, p, "peerStatusUpdate", second, 100, outcome="duplicate"))
    # A rejected 5000 B packet from a made-up sender: neither traffic nor a visitor.
    recs.append(_pkt(9, "spoofed", "inferenceCommit", "nostr", 5000, outcome="bad_signature"))
    # p4 committed once (so 4 workers: p1, p2, p3 by report, p4 by commit).
    recs.append(new_record("commit", t=T0 + 20 * S, requestId="R0", synthientId="p4", committed=1))
    for k, rid in enumerate(REQUESTS):
        t = 10 + 30 * k                      # requests every 30 s from T0+10 s
        src = "p5" if k < 5 else "p6"        # requesters: p5 and p6 (2 of 8 visitors)
        recs.append(new_record("request", t=T0 + t * S, requestId=rid, state="requested", fromSynthientId=src))
        recs.append(_pkt(t, src, "p2pInferenceRequest", "nostr", 500, rid=rid))
        for j, p in enumerate(("p1", "p2", "p3")):   # 3 commits, 3 reveals of 100 tokens (1000 B)
            recs.append(new_record("commit", t=T0 + (t + 1) * S, requestId=rid, synthientId=p, committed=j + 1))
            bits = None
            if rid in ("R0", "R1"):
                bits = _flip_hex(ZERO_BITS if rid == "R0" else ONE_BITS, j)
            recs.append(new_record("reveal", t=T0 + (t + 2) * S, requestId=rid, synthientId=p, revealed=j + 1,
                                   inferenceId=f"{rid}.{p}", tokens=100, bEmbedding=bits))
            recs.append(_pkt(t + 2, p, "inferenceReveal", "gun", 1000, rid=rid, tokens=100))
    # We sent 5 packets of 200 B.
    recs += [new_record("sent", t=T0 + i * S, type="peerStatusUpdate", size=200) for i in range(5)]
    # Bytes: 8*100 + 10*500 + 30*1000 + 5*200 = 36,800; tokens 30*100 = 3,000; packets 53.
    for rid, pubs in PUBLISHED.items():
        t = T0 + (10 + 30 * int(rid[1:]) + 20) * S
        for by, h, n, sset in pubs:
            recs.append(new_record("published", t=t, requestId=rid, verifiedBy=by, own=by == "me",
                                   bEmbeddingHash=h, submitted=n, submittedHash=sset))
    for rid, (mean, centre) in CLUSTER.items():
        t = T0 + (10 + 30 * int(rid[1:]) + 19) * S
        recs.append(new_record("consensus", t=t, requestId=rid, success=True, reason="success", committed=3,
                               accepted=[f"{rid}.p1", f"{rid}.p2"], clusterDistance=mean,
                               centreDistances=centre, distanceUnit="bits"))
    recs.append(new_record("consensus", t=T0 + 209 * S, requestId="R6", success=False,
                           reason="no_clusters_found_of_needed_size", committed=3))
    # Verification failures: 3 of our own in minute 0, 2 announced by others in minute 3.
    recs += [new_record("verification", t=T0 + (5 + i) * S, requestId="R0", ok=False, by="self") for i in range(3)]
    recs += [new_record("verification", t=T0 + (185 + i) * S, requestId="R6", ok=False, by="p2") for i in range(2)]
    # Our tokens/s: 10 and 20 tokens/s.
    recs += [new_record("worker", t=T0 + 30 * S, workerId="w1", tokensPerSecond=10.0, tokens=100),
             new_record("worker", t=T0 + 90 * S, workerId="w1", tokensPerSecond=20.0, tokens=200)]
    # 30 minutes later only p1 is still heard: 1 node online, with its 2 workers.
    recs.append(_pkt(30 * 60, "p1", "peerHeart", "nostr", 50))
    return Dataset.from_records(recs, "golden-a")


def build_b() -> Dataset:
    """Observer B: sees R0..R7 and R10 (not R8, R9); results like A except R7's, plus (R8, p2)."""
    recs = [_meta("you")]
    for k in list(range(8)) + [10]:
        rid = f"R{k}"
        recs.append(new_record("request", t=T0 + (10 + 30 * k) * S + 500, requestId=rid, state="requested",
                               fromSynthientId="p5"))
    for rid, pubs in PUBLISHED.items():
        if rid == "R7":
            continue
        for by, h, n, sset in pubs:
            recs.append(new_record("published", t=T0 + (30 + 30 * int(rid[1:])) * S, requestId=rid,
                                   verifiedBy=by, own=False, bEmbeddingHash=h, submitted=n, submittedHash=sset))
    recs.append(new_record("published", t=T0 + 280 * S, requestId="R8", verifiedBy="p2", own=False,
                           bEmbeddingHash="h1", submitted=4, submittedHash="Sa"))
    # B held 2 commits and 1 reveal for R0 (A: 4 committers incl. p4, 3 reveals).
    recs += [new_record("commit", t=T0 + 11 * S, requestId="R0", synthientId=p) for p in ("p1", "p2")]
    recs.append(new_record("reveal", t=T0 + 12 * S, requestId="R0", synthientId="p1"))
    return Dataset.from_records(recs, "golden-b")
