"""Garbage on the signalling topics does not stop `rakis node`: malformed JSON, wrong types, offers
and answers that do not decrypt, encrypted offers that are not SDP, bad candidates, and a burst of
announcements from made-up peers. Afterwards the node still links with a well-behaved node."""
from __future__ import annotations

import asyncio
import json
import threading

import pytest

from rakis_py.serve.relays import NostrRelay


def _run_in_own_thread(coro):
    """asyncio.run in a thread of its own: in a full run, Playwright's sync API (started by the
    browser tests' session fixture) keeps an event loop running in the main thread."""
    out: dict = {}

    def main():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = e
    t = threading.Thread(target=main)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.fixture
def relay():
    why = NostrRelay.available()
    if why:
        pytest.skip(why)
    r = NostrRelay("127.0.0.1", 0).start()
    yield r
    r.stop()


async def _attack(url: str, topic: str) -> str:
    """Sends the garbage; returns the node's Trystero id (learnt from its reply to a fake peer)."""
    from rakis_py.node.signalling import NostrRelay as Client
    from rakis_py.node.wire import room_keys
    keys = room_keys(topic)
    client = Client(url)
    low, high = "0" * 20, "~" * 20            # a peer id below and one above any real one
    for t in (keys.root_topic, keys.peer_topic(low), keys.peer_topic(high)):
        client.subscribe(t)
    replies: list[dict] = []
    client.on_message = lambda t, text: t != keys.root_topic and replies.append(json.loads(text))
    runner = asyncio.ensure_future(client.run())
    while client.state != "open":
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    client.publish(keys.root_topic, json.dumps({"peerId": high}))
    for _ in range(100):
        if replies:
            break
        await asyncio.sleep(0.1)
    assert replies, "the node never answered an announcement"
    node_id = replies[0]["peerId"]
    node_topic = keys.peer_topic(node_id)
    garbage = ["", "null", "[]", "{", '"x"', json.dumps({"peerId": 5}), json.dumps({"peerId": ""}),
               json.dumps({"peerId": "x" * 10_000}), json.dumps({"peerId": low, "offer": 7}),
               json.dumps({"peerId": low, "offer": ""}), json.dumps({"peerId": low, "offer": "1,2$AAAA"}),
               json.dumps({"peerId": low, "offerId": "o", "offer": keys.encrypt("not sdp")}),
               json.dumps({"peerId": high, "answer": keys.encrypt("v=0 nonsense")}),
               json.dumps({"peerId": high, "offerId": replies[0].get("offerId", "o"),
                           "answer": keys.encrypt("v=0\r\nnonsense")}),
               json.dumps({"peerId": low, "candidate": keys.encrypt("{bad json")}),
               json.dumps({"peerId": low, "candidate": keys.encrypt(json.dumps({"candidate": "candidate:x y z"}))}),
               json.dumps({"peerId": high, "candidate": keys.encrypt(json.dumps({"candidate": 5}))})]
    for text in garbage:
        client.publish(node_topic, text)
        client.publish(keys.root_topic, text)
    for i in range(30):                        # made-up peers announcing themselves
        client.publish(keys.root_topic, json.dumps({"peerId": f"fake{i:016d}"}))
    await asyncio.sleep(2)
    await client.close()
    runner.cancel()
    return node_id


def test_garbage_signalling_does_not_stop_the_node(relay, start_node, tmp_path):
    args = ["--topic", "rakis-hostile", "--nostr", relay.url, "--channels", "nostr"]
    a = start_node(args, tmp_path / "a")
    a.wait_log(r"nostr relay \S+ connected", 20)
    _run_in_own_thread(_attack(relay.url, "rakis-hostile"))
    assert a.proc.poll() is None, a.log()[-3000:]
    b = start_node(args, tmp_path / "b")
    b.wait_log(rf"nostr: peer \S+ is node {a.synthient_id}", 60)
    log = a.log()
    assert "Traceback" not in log and "core error" not in log, log[-3000:]
    assert a.stop() == 0
