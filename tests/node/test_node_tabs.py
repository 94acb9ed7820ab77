"""`rakis node` (a CPython process) and a real Chromium tab on the local relays: the tab links the
node on nostr and mqtt, a request submitted in the tab (with models) reaches the node, which ends
with the tab's result, and a restart on the same data directory resumes it (same synthientId,
state restored); Ctrl-C leaves cleanly (the tab drops the links at once). One tab for the module
(it boots its models once). Skips as tests/network does (dist, chromium, playwright, relays) and
without aiortc/coincurve."""
from __future__ import annotations

import json
import random
import time

import pytest

from rakis_py.protocol.identity import Identity
from rakis_py.protocol.node import Node, NodeConfig
from rakis_py.runtime.sqlite_store import SqliteStorage
from tests.network.conftest import channel_health, dump, links, submit, wait_final

pytestmark = pytest.mark.browser
IDLE_S = 15


@pytest.fixture(scope="module")
def tab(network):
    tab = network.open_tab("tab0")
    network.wait_booted(tab)
    return tab


def node_args(network) -> list[str]:
    ports = network.relays.ports()
    return ["--topic", network.topic, "--nostr", f"ws://127.0.0.1:{ports['nostr']}",
            "--mqtt", f"ws://127.0.0.1:{ports['mqtt']}"]


def wait_linked(tab, sid: str, channels=("nostr", "mqtt"), timeout_s: float = 60) -> float:
    """Seconds until the tab has a link to `sid` (its hello arrived) on every one of `channels`."""
    t0 = time.monotonic()
    try:
        tab.page.wait_for_function(
            "([sid, channels]) => channels.every(c => window.rakis.network().links"
            ".some(l => l.channel === c && l.synthientId === sid))",
            arg=[sid, list(channels)], timeout=timeout_s * 1000)
    except Exception:
        raise AssertionError(f"tab not linked to the node on {channels}: {links(tab)} {channel_health(tab)}") from None
    return time.monotonic() - t0


def test_tab_links_the_node_on_both_channels_and_ctrl_c_leaves(network, tab, start_node):
    node = start_node(node_args(network))
    sid = node.synthient_id
    joined = wait_linked(tab, sid)
    # The node names the tab too (the tab's hello), on each channel.
    for channel in ("nostr", "mqtt"):
        node.wait_log(rf"{channel}: peer \S+ is node {tab.synthient_id}", 30)
    # The node's boot status, sent once its first peer is linked: the tab's node lists it.
    deadline = time.monotonic() + 10
    while not tab.js("async sid => (await window.rakis.peers()).some(p => p.synthientId === sid)", sid):
        assert time.monotonic() < deadline, f"the tab's peer table lacks the node:\n{node.log()[-2000:]}"
        time.sleep(0.3)
    print(f"node linked with the tab on nostr+mqtt {time.monotonic() - node.started:.1f} s after the process started")
    # Idle: linked to one tab on two channels, no requests.
    rss0, cpu0 = node.usage()
    time.sleep(IDLE_S)
    rss1, cpu1 = node.usage()
    print(f"node at idle: RSS {rss0:.0f} -> {rss1:.0f} MB, CPU {100 * (cpu1 - cpu0) / IDLE_S:.1f}% over {IDLE_S} s")
    assert node.stop() == 0
    log = node.log()
    assert "leaving the network" in log and "stopped" in log, log[-2000:]
    # Trystero's @_leave: the tab drops both links at once, not after an ICE timeout.
    tab.page.wait_for_function("sid => !window.rakis.network().links.some(l => l.synthientId === sid)",
                               arg=sid, timeout=10_000)


def test_request_from_a_tab_reaches_the_node_with_the_same_result_and_a_restart_resumes(network, tab, start_node, tmp_path):
    data_dir = tmp_path / "node"
    node = start_node(node_args(network), data_dir)
    sid = node.synthient_id
    wait_linked(tab, sid)
    rid = submit(tab, prompt="Name one colour.", quorum=1, agreement=50, timeMs=30_000, maxTokens=12,
                 temperature=0)
    view = wait_final(tab, rid, 120)
    assert view and view["status"] == "completed", dump(view)
    # The tab publishes its result after its consensus: wait until the node has stored it.
    db = data_dir / "node.sqlite"
    deadline = time.monotonic() + 30
    while True:
        store = SqliteStorage(db)
        try:
            ext = store.find("externalConsensusResults", "requestId", rid)
            request = store.get("inferenceRequests", rid)
        finally:
            store.close()
        if ext or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert request is not None, f"the request never reached the node:\n{node.log()[-3000:]}"
    assert ext, f"the tab's result never reached the node:\n{node.log()[-3000:]}"
    assert node.stop() == 0
    # The node's own view, rebuilt offline from its SQLite store, names the tab's result.
    identity = Identity.from_private_key(json.loads((data_dir / "identity.json").read_text())["privateKeyHex"])
    store = SqliteStorage(db)
    tables = store.load_all()
    store.close()
    core, _ = Node.restore(NodeConfig(), identity, random.Random(0), tables, int(time.time() * 1000))
    mine = core.request_view(rid)
    assert mine["fromSynthientId"] == tab.synthient_id
    assert mine["result"] is not None, dump(mine)
    # The record the node keeps is the tab's signed inferenceQuorumComputed packet, field for field
    # (plus when it arrived): the same winner, output, commit set and joint hash.
    got = {k: v for k, v in mine["result"].items() if k != "receivedAt"}
    assert got == view["result"], f"node: {dump(got)}\ntab: {dump(view['result'])}"
    assert got["verifiedBy"] == tab.synthient_id
    # Restarted on the same directory: the same node, its state restored, linked again.
    again = start_node(node_args(network), data_dir)
    assert again.synthient_id == sid
    assert "stored identity, restored state" in again.log(), again.log()[-2000:]
    wait_linked(tab, sid)



@pytest.mark.parametrize("self_id, role", [("0" * 20, "offer"), ("z" * 20, "answer")])
def test_both_signalling_roles_link_with_a_tab(network, tab, self_id, role):
    """The smaller Trystero id offers: a room with the smallest id offers to the tab, one with the
    largest answers the tab's offer (a node's random id takes either role)."""
    import asyncio
    import os
    import threading

    from rakis_py.node.room import Room
    from rakis_py.node.signalling import NostrRelay
    from rakis_py.node.wire import room_keys

    sid = os.urandom(32).hex()
    url = f"ws://127.0.0.1:{network.relays.ports()['nostr']}"
    events, stop = [], threading.Event()
    loop = asyncio.new_event_loop()

    async def run():
        room = Room("nostr", [NostrRelay(url)], room_keys(network.topic), sid, [],
                    on_packet=lambda *a: None, on_peer=lambda *a: events.append(a), self_id=self_id)
        room.start()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        roles = {link.role for link in room.links.values() if link.active}
        await room.leave()
        return roles

    result = {}
    thread = threading.Thread(target=lambda: result.update(roles=loop.run_until_complete(run())))
    thread.start()
    try:
        wait_linked(tab, sid, ("nostr",), 30)
    finally:
        stop.set()
        thread.join(15)
    assert any(kind == "hello" and who == tab.synthient_id for kind, _, who in events), events
    assert result["roles"] == {role}
