"""Child process: an in-memory Nostr relay (nostr-sdk's LocalRelay) on HOST:PORT.

    python -m rakis_py.serve.nostr_local --host 127.0.0.1 --port 7447

Prints one JSON line on stdout when it listens ({"ready": url}) or fails ({"error": ..., "kind":
"port_in_use"|"missing"|"failed"}), then runs until SIGTERM/SIGINT or until its stdin closes (the
parent died), so it never outlives `rakis serve`.

Why LocalRelay: it starts in about a millisecond, keeps nothing on disk, delivers ephemeral kinds
20000-29999 with `#x` tag filters (what Trystero uses) and is one wheel. Its default rate limit
(60 events/min per connection) throttles a handful of tabs, so it is raised here."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading

# Events per minute per connection. Trystero sends an announcement a minute plus a few signals per
# peer it meets; 8+ tabs joining at once overrun the default of 60.
NOTES_PER_MINUTE = 100_000
MAX_REQS = 1_000


def _say(**msg) -> None:
    print(json.dumps(msg), flush=True)


async def _run(host: str, port: int) -> int:
    try:
        import nostr_sdk
    except ImportError:
        _say(error="nostr-sdk is not installed: pip install 'rakis-py[serve]' (or pip install nostr-sdk==0.45.1)", kind="missing")
        return 3
    relay = (nostr_sdk.LocalRelayBuilder().addr(host).port(port)
             .rate_limit(nostr_sdk.RateLimit(max_reqs=MAX_REQS, notes_per_minute=NOTES_PER_MINUTE))
             .build())
    try:
        await relay.run()
    except Exception as e:  # nostr-sdk raises its own error types with the OS message inside
        text = str(e)
        kind = "port_in_use" if "in use" in text.lower() else "failed"
        _say(error=text, kind=kind)
        return 4 if kind == "port_in_use" else 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # stdin closes when the parent goes away (even on SIGKILL): stop then too.
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)),
                     daemon=True).start()
    _say(ready=str(await relay.url()))
    await stop.wait()
    relay.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rakis_py.serve.nostr_local")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    return asyncio.run(_run(args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
