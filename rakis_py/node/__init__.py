"""`rakis node`: the CPython node (Trystero over Nostr and MQTT signalling, aiortc data channels,
the protocol core, SQLite). docs/cpython-node.md.

    wire.py        Trystero's wire formats (topics, signal cipher, frames, action chunks), no IO
    signalling.py  Nostr and MQTT relay clients over WebSocket, with reconnect and backoff
    room.py        one Trystero room per channel: signalling, WebRTC links, the page's actions
    driver.py      the core: events in, actions out, timers, SQLite (the one module that touches it)
    datadir.py     identity file, SQLite path, one-node-per-directory lock
    cli.py         options and the process
"""
