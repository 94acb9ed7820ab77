"""The NAT figure: the share of tab pairs that link with and without a TURN relay, and how long
linking takes, for follower tabs each behind its own masquerading NAT (tests/browser/nat.py; the
design is docs/faults.md, "NAT").

Modes (what the page is handed as ICE servers, as `rakis serve --ice-servers` does):
  none        no ICE servers: host candidates only
  stun        coturn's STUN side: each tab learns its NAT's public mapping, hole punching is tried
  turn        coturn as TURN (static user, relay ports 49152-49651)
  stun-cone   control: STUN, but NATs that keep the source port (plain `masquerade`, no
              random,fully-random), where hole punching can work: shows the harness can link
              directly when the NAT allows it

Each run is N fresh tabs (N*(N-1)/2 pairs) and a fresh page server; a pair counts as linked
when both tabs list each other on every channel (nostr and mqtt) within --wait seconds of the last
tab being ready (a handshake that fails is retried at the next announce, 60 s later, so the wait
should cover at least one retry).

Needs root, iproute2, nftables, coturn and chromium (`./dev test` installs them), and a built
dist/ (`python3 build.py`). It runs itself in a network namespace of its own (unshare --net): no
address off this machine is ever used. Usage (from the repo root, as root):
  .venv/bin/python bench/bench_nat.py [--tabs 3] [--runs 2] [--modes none,stun,turn] [--wait 90]
Prints one JSON object: per mode, pairs, linked, share, seconds to link (median, max), the ICE
candidate types chosen, and each run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def isolate() -> None:
    """Re-run this script in a new network namespace (only loopback up) unless already in one."""
    if os.environ.get("RAKIS_ISOLATED") == "1":
        return
    if os.geteuid() != 0:
        sys.exit("bench_nat: needs root (network namespaces, nftables)")
    os.environ["RAKIS_ISOLATED"] = "1"
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tabs", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--modes", default="none,stun,turn")
    ap.add_argument("--wait", type=float, default=90.0, help="seconds to wait for links after boot")
    args = ap.parse_args()
    isolate()

    from playwright.sync_api import sync_playwright

    from rakis_py.bench.machine import memory_gb
    from tests.browser import nat
    from tests.build.support import chromium_path

    why = nat.missing()
    chromium = chromium_path()
    if why or not chromium:
        sys.exit(f"bench_nat: {why or 'chromium not installed'}")
    dist = Path(os.environ.get("RAKIS_DIST", ROOT / "dist"))
    out = {"benchmark": "nat", "tabs": args.tabs, "runs": args.runs, "wait_s": args.wait,
           "machine": {"cpus": os.cpu_count(), "memory_gb": memory_gb(), "platform": platform.platform(),
                       "load_avg_start": os.getloadavg()[0],
                       "chromium": subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()},
           "modes": {}}
    pw = sync_playwright().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-nat-") as tmpdir, nat.Wan():
            tmp = Path(tmpdir)
            turn = nat.Turn(tmp)
            try:
                for mode in args.modes.split(","):
                    runs = []
                    for r in range(args.runs):
                        t = time.monotonic()
                        res = nat.run_tabs(pw, dist, tmp / f"{mode}-{r}", chromium, nat.ice(mode.removesuffix("-cone")),
                                           n=args.tabs, wait_s=args.wait, symmetric=not mode.endswith("-cone"),
                                           tag=f"{mode}-{r}")
                        res["run_s"] = round(time.monotonic() - t, 1)
                        runs.append(res)
                        print(f"bench_nat: {mode} run {r + 1}: {res['linked']}/{res['pairs']} linked "
                              f"{res['seconds_to_link']} {res['candidate_types']}", file=sys.stderr)
                    pairs, linked = sum(x["pairs"] for x in runs), sum(x["linked"] for x in runs)
                    times = [s for x in runs for s in x["seconds_to_link"]]
                    out["modes"][mode] = {
                        "pairs": pairs, "linked": linked, "share": round(linked / pairs, 3),
                        "seconds_to_link_median": statistics.median(times) if times else None,
                        "seconds_to_link_max": max(times) if times else None,
                        "candidate_types": sorted({c for x in runs for c in x["candidate_types"]}),
                        "relays_open": all(x["relays_open"] for x in runs), "runs": runs}
            finally:
                turn.close()
                log = (tmp / "turnserver.log").read_text(errors="replace") if (tmp / "turnserver.log").exists() else ""
                out["turn_relay_ports_exhausted"] = log.count("no available ports")
    finally:
        pw.stop()
    out["machine"]["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
