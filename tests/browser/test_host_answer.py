"""NodeHost's answer on CPython, driven like web/js/bridge.js: every answer ends with one "status"
emit carrying the node's status, the views of the requests the event touched and the peer rows of
the peers it touched (the page makes one crossing per event and polls nothing); the request form's
defaults come from the core."""
import json

from rakis_py.browser.node_host import NodeHost, request_defaults
from rakis_py.protocol.events import RequestSubmitted
from rakis_py.runtime.storage import MemoryStorage
from tests.unit.test_browser_host import EMB, KEY, T0, Page, workers_up


def status_of(answer: str) -> dict:
    actions = json.loads(answer)
    last = actions[-1]
    assert last["type"] == "emit" and last["kind"] == "status"
    assert sum(a["type"] == "emit" and a["kind"] == "status" for a in actions) == 1
    return last["data"]


def test_every_answer_ends_with_the_status_and_what_changed():
    page = Page(MemoryStorage())
    host = NodeHost.start(KEY, json.dumps({"embeddingModel": EMB}), "{}", T0, seed=7, crypto="test")
    boot = status_of(host.boot(T0))
    assert boot["status"] == json.loads(host.status()) and boot["requests"] == [] and boot["peers"] == []
    workers_up(host, page)
    answer = host.handle(json.dumps({"type": "submit", "prompt": "p", "quorum": 1, "timeMs": 5000}), page.now)
    page.run(answer)
    got = status_of(answer)
    rid = next(a["data"]["requestId"] for a in json.loads(answer) if a.get("kind") == "submitted")
    assert got["status"]["requests"] == 1 and len(got["status"]["workers"]) == 2
    assert [v["requestId"] for v in got["requests"]] == [rid]
    assert got["requests"][0] == json.loads(host.request_view(rid))
    # Bad input is answered with the status too.
    assert status_of(host.handle("not json", T0))["status"]["synthientId"] == host.synthient_id


def test_a_packet_answer_carries_its_sender_row():
    other = Page(MemoryStorage())
    a = NodeHost.start(KEY, "{}", "{}", T0, seed=1)
    b = NodeHost.start("22" * 32, "{}", "{}", T0, seed=2)
    other.run(b.boot(T0))
    got = status_of(a.handle(json.dumps({"type": "packet", "data": other.sent[0], "channel": "mqtt"}), T0 + 5))
    assert [r["synthientId"] for r in got["peers"]] == [b.synthient_id]
    assert got["peers"][0]["seenOn"] == ["mqtt"] and got["status"]["peers"] == 1
    assert got["peers"] == json.loads(a.peer_table(T0 + 5, 10))


def test_request_defaults_are_the_cores():
    d = json.loads(request_defaults())
    core = RequestSubmitted("p", ("m",))
    assert (d["quorum"], d["timeMs"], d["maxTokens"], d["temperature"], d["protocol"]) == (
        core.quorum, core.max_time_ms, core.max_tokens, core.temperature, core.protocol)
    assert d["agreement"] == core.sec_percentage * 100 and d["acceptedModels"]
    assert d["distance"] > 0 and d["maxCommits"] >= 1
