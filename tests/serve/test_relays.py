"""Local relays: real protocol round trips, clean stops (no orphan process), clear port errors."""
import json
import socket
import threading
import time

import pytest

from rakis_py.serve.ports import PortInUse
from rakis_py.serve.relays import LocalRelays, MosquittoRelay, NostrRelay
from rakis_py.serve.trystero_names import network_kind, root_topic, room_names

from .support import nostr_event, pid_gone


def _nostr_round_trip(url: str, kind: int, topic: str) -> tuple[list, list]:
    """Subscriber A asks for `kind` with #x=[topic]; B publishes one event with that tag and one
    with another tag. Returns (what A received, the OK replies B got)."""
    from websockets.sync.client import connect
    match = nostr_event(kind, "hello", [["x", topic]])
    other = nostr_event(kind, "not for you", [["x", topic + "-other"]])
    with connect(url) as a, connect(url) as b:
        a.send(json.dumps(["REQ", "sub1", {"kinds": [kind], "#x": [topic],
                                           "since": int(time.time()) - 5}]))
        assert json.loads(a.recv(timeout=5)) == ["EOSE", "sub1"]
        oks = []
        for ev in (other, match):
            b.send(json.dumps(["EVENT", ev]))
            oks.append(json.loads(b.recv(timeout=5)))
        got = [json.loads(a.recv(timeout=5))]
        try:
            got.append(json.loads(a.recv(timeout=0.3)))
        except TimeoutError:
            pass
    return got, oks, match


def test_nostr_relay_round_trip_with_ephemeral_kind_and_x_filter(needs_nostr):
    topic = root_topic(*room_names("testnet"))
    kind = network_kind("testnet")
    assert 20000 <= kind < 30000
    with NostrRelay("127.0.0.1", 0) as relay:
        assert relay.running and relay.url.startswith("ws://127.0.0.1:")
        got, oks, sent = _nostr_round_trip(relay.url, kind, topic)
        pid = relay.pid
    assert [ok[0] for ok in oks] == ["OK", "OK"] and all(ok[2] is True for ok in oks), oks
    # Only the event whose x tag matches reaches the subscriber, unchanged.
    assert got == [["EVENT", "sub1", sent]]
    assert pid_gone(pid)


def test_nostr_relay_stop_and_restart_on_the_same_port(needs_nostr):
    relay = NostrRelay("127.0.0.1", 0).start()
    try:
        port, first = relay.port, relay.pid
        relay.stop()
        assert pid_gone(first) and not relay.running
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        relay.start()
        assert relay.port == port and relay.pid != first
        got, _, _ = _nostr_round_trip(relay.url, 21000, "t")
        assert got[0][0] == "EVENT"
    finally:
        relay.stop()


def _listening_socket():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_nostr_port_clash_is_a_clear_error(needs_nostr):
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        relay = NostrRelay("127.0.0.1", port)
        with pytest.raises(PortInUse) as e:
            relay.start()
    assert f"port {port} on 127.0.0.1 is already in use (nostr relay)" in str(e.value)
    assert "--nostr-port" in str(e.value)
    assert relay.proc is None


def test_mosquitto_websocket_mqtt_round_trip_and_tcp(needs_mosquitto):
    mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (the test's MQTT client)")
    with MosquittoRelay("127.0.0.1", 0, 0) as relay:
        socket.create_connection(("127.0.0.1", relay.tcp_port), timeout=2).close()
        got, connected = [], threading.Event()
        received = threading.Event()
        # Two clients over websockets, as mqtt.js in the page connects.
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
        sub.on_connect = lambda c, u, f, rc, p: (c.subscribe("rakis/test"), connected.set())
        sub.on_subscribe = lambda *a: connected.set()
        sub.on_message = lambda c, u, m: (got.append((m.topic, m.payload)), received.set())
        try:
            sub.connect("127.0.0.1", relay.port)
            sub.loop_start()
            assert connected.wait(5), "websocket MQTT connect failed"
            time.sleep(0.2)  # let the SUBSCRIBE land
            pub.connect("127.0.0.1", relay.port)
            pub.loop_start()
            pub.publish("rakis/test", b"hello", qos=0).wait_for_publish(5)
            assert received.wait(5)
        finally:
            for c in (sub, pub):
                c.loop_stop()
                c.disconnect()
        assert got == [("rakis/test", b"hello")]
        pid = relay.pid
    assert pid_gone(pid)


def test_mosquitto_binds_only_the_given_host(needs_mosquitto):
    with MosquittoRelay("127.0.0.1", 0, 0) as relay:
        conf = (relay._tmp.name + "/mosquitto.conf")
        text = open(conf).read()
        assert f"listener {relay.port} 127.0.0.1" in text and "socket_domain ipv4" in text
        # Not reachable on another local address (127.0.0.2 is loopback too but a different host).
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", relay.port), timeout=0.5).close()


def test_mosquitto_port_clash_is_a_clear_error(needs_mosquitto):
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as e:
            MosquittoRelay("127.0.0.1", port, 0).start()
    assert f"port {port} on 127.0.0.1 is already in use (mosquitto websockets listener)" in str(e.value)


def test_local_relays_start_and_stop_together(needs_nostr):
    relays = LocalRelays("127.0.0.1").start()
    pids = [r.pid for r in relays.relays.values()]
    try:
        assert set(relays.ports()) >= {"nostr"}
        assert all(p for p in relays.ports().values())
        assert relays.died() == []
    finally:
        relays.stop()
    assert all(pid_gone(p) for p in pids)


def test_local_relays_stop_the_first_when_the_second_cannot_start(needs_nostr, needs_mosquitto):
    with _listening_socket() as taken:
        relays = LocalRelays("127.0.0.1", mqtt_port=taken.getsockname()[1], mqtt=True)
        nostr = relays.relays["nostr"]
        with pytest.raises(PortInUse):
            relays.start()
    assert nostr.proc is None and not nostr.running
