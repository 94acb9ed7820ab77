"""A fixed scenario run by the protocol core on CPython and, unchanged, on Pyodide: the results must
be identical byte for byte (same seeds, deterministic Ed25519, same JSON)."""

import json

from netharness import Net, NodeSpec


def run() -> str:
    out = {}
    for protocol in (2, 1):
        net = Net([NodeSpec() for _ in range(4)] + [NodeSpec(garbage=True)], seed=42, jitter=1)
        rid = net.submit(0, quorum=3, max_time_ms=10_000, protocol=protocol)
        net.run_until(net.now + 150_000)
        out[f"v{protocol}"] = {
            # each node's latest ConsensusReached, in the page's JSON form (None: no verdict)
            "results": [c.to_json() if c else None for c in (net.consensus_of(i, rid) for i in range(5))],
            "sent": [env["signature"] for _, env in net.sent],
        }
    return json.dumps(out, sort_keys=True)
