"""Trystero's wire formats in rakis_py/node/wire.py, against Trystero's own code where Node.js and
the build's npm cache have it (topics, the signal cipher both ways, room token, the relay shuffle),
and on their own (action chunks, frames, Nostr events, MQTT framing)."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("coincurve", reason="coincurve not installed (requirements/node.in)")
pytest.importorskip("aiortc", reason="aiortc not installed (requirements/node.in)")

from rakis_py.node import wire  # noqa: E402
from rakis_py.node.cli import TRYSTERO_NOSTR_RELAYS, _js_shuffle, default_relays  # noqa: E402
from rakis_py.node.signalling import MqttRelay, NostrRelay, _mqtt_packet, _mqtt_str  # noqa: E402
from rakis_py.serve.trystero_names import network_kind, root_topic  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORE_DIST = ROOT / ".cache" / "npm" / "node_modules" / "@trystero-p2p" / "core" / "dist"


def test_topics_match_the_serve_mirror():
    keys = wire.room_keys("rakis2")
    assert keys.root_topic == root_topic("rakis2", "rakis2T")
    assert wire.nostr_kind(keys.root_topic) == network_kind("rakis2")
    assert keys.room_token == hashlib.sha256(b"Trystero:rakis2:rakis2T").hexdigest()


def test_against_trystero_itself():
    if not shutil.which("node") or not (CORE_DIST / "crypto.mjs").exists():
        pytest.skip("needs Node.js and the build's npm cache (python build.py)")
    keys = wire.room_keys("rakis-net")
    self_id = wire.new_self_id()
    text = json.dumps({"candidate": "candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host", "sdpMid": "0"})
    items = [f"r{i}" for i in range(28)]
    arg = {"coreDist": str(CORE_DIST), "topic": "rakis-net", "selfId": self_id, "text": "v=0\r\nsdp ünïcode",
           "pythonCipher": keys.encrypt(text), "seed": 1234, "items": items}
    out = json.loads(subprocess.run(["node", str(Path(__file__).parent / "trystero_probe.mjs"), json.dumps(arg)],
                                    capture_output=True, text=True, check=True, timeout=60).stdout)
    assert out["rootTopic"] == keys.root_topic
    assert out["peerTopic"] == keys.peer_topic(self_id)
    assert out["roomToken"] == keys.room_token
    assert out["decrypted"] == text                       # Python -> Trystero
    assert keys.decrypt(out["jsCipher"]) == "v=0\r\nsdp ünïcode"   # Trystero -> Python
    assert out["shuffled"] == _js_shuffle(items, 1234)
    assert out["strToNum"] == sum(map(ord, "rakis-net"))


def test_signal_cipher_format_and_tampering():
    keys = wire.room_keys("t")
    c = keys.encrypt("hello")
    iv, _, body = c.partition("$")
    assert len(iv.split(",")) == 16 and all(0 <= int(b) < 256 for b in iv.split(","))
    assert keys.decrypt(c) == "hello"
    for bad in (c[:-4] + "AAAA", "1,2$xx", "", "nonsense", wire.room_keys("other").encrypt("hello")):
        with pytest.raises(wire.WireError):
            keys.decrypt(bad)


@pytest.mark.parametrize("value", ["", "text", b"\x00\x01binary", {"a": [1, 2]}, {"big": "x" * 40_000}])
def test_action_chunks_round_trip(value):
    chunks = wire.encode_action("pkt", value, nonce=513)
    assert all(len(c) <= 16 * 1024 for c in chunks)
    r = wire.Reassembler()
    out = [r.feed(c) for c in chunks]
    assert out[:-1] == [None] * (len(chunks) - 1)
    assert out[-1] == wire.ActionMessage("pkt", value)
    name, nonce, tag, _ = wire.decode_chunk(chunks[-1])
    assert (name, nonce, tag & 1) == ("pkt", 513, 1)


def test_action_chunk_layout_is_trystero_s():
    (chunk,) = wire.encode_action("@_hsready", "", nonce=0)
    assert chunk == b"@_hsready".ljust(32, b"\0") + bytes([0, 0, 1, 255])
    (chunk,) = wire.encode_action("hello", {"x": 1}, nonce=7)
    assert chunk[32:36] == bytes([0, 7, 1 | 8, 255]) and chunk[36:] == b'{"x":1}'


def test_frames():
    token = wire.room_keys("t").room_token
    frame = wire.room_frame(token, b"abc")
    assert frame[:3] == bytes([1, 0, 64]) and wire.unwrap_frame(frame) == ("room", token, b"abc")
    assert wire.unwrap_frame(wire.presence_frame(token, True)) == ("presence", token, True)
    for bad in (b"", b"\x01\x00", b"\x01\x00\x05ab", b"\x07abc"):
        with pytest.raises(wire.WireError):
            wire.unwrap_frame(bad)


def test_reassembler_bounds_what_a_peer_can_make_it_hold():
    r = wire.Reassembler()
    for nonce in range(wire.MAX_PENDING):
        r.feed(wire.encode_action("pkt", "x" * 20_000, nonce)[0])    # first chunks only
    with pytest.raises(wire.WireError):
        r.feed(wire.encode_action("pkt", "x" * 20_000, 999)[0])
    big = wire.Reassembler()
    chunk = wire.encode_action("pkt", "y" * 20_000, 1)[0]           # not last
    with pytest.raises(wire.WireError):
        for _ in range(wire.MAX_MESSAGE_BYTES // len(chunk) + 2):
            big.feed(chunk)
    with pytest.raises(wire.WireError):
        wire.Reassembler().feed(wire.encode_action("pkt", "{", 1)[0][:34] + bytes([1 | 8, 255]) + b"{")


def test_nostr_event_is_signed_bip340():
    import coincurve
    relay = NostrRelay("ws://127.0.0.1:1")
    topic = wire.room_keys("t").root_topic
    kind, event = json.loads(relay.event(topic, '{"peerId":"x"}'))
    assert kind == "EVENT" and event["kind"] == wire.nostr_kind(topic) and event["tags"] == [["x", topic]]
    serial = wire.js_json([0, event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]])
    digest = hashlib.sha256(serial.encode()).digest()
    assert event["id"] == digest.hex()
    assert coincurve.PublicKeyXOnly(bytes.fromhex(event["pubkey"])).verify(bytes.fromhex(event["sig"]), digest)


def test_mqtt_framing():
    assert _mqtt_packet(0x30, b"x" * 200)[:3] == bytes([0x30, 0xC8, 0x01])
    relay = MqttRelay("ws://127.0.0.1:1")
    relay.topics.add("top")
    got = []
    relay.on_message = lambda t, m: got.append((t, m))
    data = _mqtt_packet(0x30, _mqtt_str("top") + b'{"peerId":"a"}') + _mqtt_packet(0x30, _mqtt_str("other") + b"n")
    relay._received(data[:5])
    relay._received(data[5:])
    assert got == [("top", '{"peerId":"a"}')]


def test_default_relays_follow_trystero():
    assert len(default_relays("nostr", "rakis2")) == 5
    assert set(default_relays("nostr", "rakis2")) <= set(TRYSTERO_NOSTR_RELAYS)
    assert default_relays("mqtt", "rakis2")[0] == "wss://test.mosquitto.org:8081/mqtt"
