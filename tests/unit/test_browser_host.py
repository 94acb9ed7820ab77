"""The browser adapter on CPython: JSON codec, NodeHost driven the way web/js/bridge.js drives it
(persist into storage, timers by time, model jobs answered by stand-ins), restore from storage, and
the WebCrypto provider's glue over a fake bridge."""

import hashlib
import json

import pytest

from rakis_py.browser import codec
from rakis_py.browser.codec import BadEvent, action_to_dict, dumps, event_from_dict
from rakis_py.browser.node_host import NodeHost
from rakis_py.browser.webcrypto import WebCryptoEd25519, choose_provider
from rakis_py.protocol import events as ev
from rakis_py.protocol.actions import CancelTimer, Persist, RunEmbedding, RunInference, Send, SetTimer
from rakis_py.protocol.notices import Log
from rakis_py.protocol.crypto import CryptographyProvider
from rakis_py.runtime.storage import MemoryStorage

KEY = "11" * 32
T0 = 1_790_000_000_000
LLM = "SmolLM2-135M-Instruct"
EMB = "all-MiniLM-L6-v2"


# ---------------------------------------------------------------- codec

def test_submit_maps_percent_and_defaults():
    e = event_from_dict({"type": "submit", "prompt": "hi", "quorum": 3, "agreement": 75, "timeMs": 9000,
                         "distance": 40, "maxTokens": 32, "temperature": 0}, T0)
    assert isinstance(e, ev.RequestSubmitted)
    assert (e.quorum, e.sec_percentage, e.max_time_ms, e.sec_distance, e.max_tokens, e.temperature) == \
        (3, 0.75, 9000, 40.0, 32, 0.0)
    assert e.accepted_models == (LLM,)
    d = event_from_dict({"type": "submit", "prompt": "x"}, T0)
    assert d.sec_percentage == 0.5 and d.sec_distance is None and d.protocol == 2
    assert d.security_extra == ()
    m = event_from_dict({"type": "submit", "prompt": "x", "quorum": 3, "maxCommits": 5}, T0)
    assert m.security_extra == (("maxCommits", 5),)


@pytest.mark.parametrize("bad", [
    {"type": "submit", "prompt": "x", "agreement": 0},
    {"type": "submit", "prompt": "x", "agreement": 101},
    {"type": "submit", "prompt": "x", "acceptedModels": []},
    {"type": "submit", "prompt": "x", "quorum": True},
    {"type": "submit", "prompt": "x", "quorum": 3, "maxCommits": 2},
    {"type": "submit", "prompt": "x", "maxCommits": "12"},
    {"type": "submit"},
    {"type": "timer"},
    {"type": "timer", "timerId": 5},
    {"type": "embeddingFinished", "jobId": "j", "bits": [[256]]},
    {"type": "embeddingFinished", "jobId": "j", "bits": [[1, -1]]},
    {"type": "packet", "data": 3, "channel": "x"},
    {"type": "nope"},
    ["type", "timer"],
])
def test_bad_events_raise_bad_event_only(bad):
    with pytest.raises(BadEvent):
        event_from_dict(bad, T0)


def test_events_carry_page_time_and_bits():
    p = event_from_dict({"type": "packet", "data": {"a": 1}, "channel": "loopback", "size": 9}, T0)
    assert p == ev.PacketReceived({"a": 1}, "loopback", T0, 9)
    q = event_from_dict({"type": "packet", "data": "{}", "channel": "nostr", "receivedAt": T0 - 5}, T0)
    assert q.received_at == T0 - 5 and q.size is None
    e = event_from_dict({"type": "embeddingFinished", "jobId": "j", "bits": [[1, 255], [0]]}, T0)
    assert e.bembeddings == (b"\x01\xff", b"\x00") and e.embeddings is None
    f = event_from_dict({"type": "embeddingFinished", "jobId": "j", "bits": [[1]], "embeddings": [[0.5, -1]]}, T0)
    assert f.embeddings == ((0.5, -1.0),)
    with pytest.raises(BadEvent):
        event_from_dict({"type": "embeddingFinished", "jobId": "j", "bits": [[1]], "embeddings": [["x"]]}, T0)
    w = event_from_dict({"type": "worker", "workerId": "w", "kind": "llm", "model": LLM, "state": "ready",
                         "backend": "wasm"}, T0)
    assert (w.worker_id, w.state, w.backend, w.detail) == ("w", "ready", "wasm", "")


def test_actions_to_dicts():
    assert action_to_dict(Send({"x": 1}, ("a",))) == {"type": "send", "envelope": {"x": 1}, "to": ["a"]}
    assert action_to_dict(Send({"x": 1}))["to"] is None
    assert action_to_dict(RunInference("j", "w", LLM, "p", 0.5, 9))["maxTokens"] == 9
    assert action_to_dict(RunEmbedding("j", "w", EMB, ("a", "b")))["texts"] == ["a", "b"]
    assert action_to_dict(Persist("peers", "k", None)) == {"type": "persist", "table": "peers", "key": "k",
                                                           "record": None}
    assert action_to_dict(SetTimer("t", 5)) == {"type": "setTimer", "timerId": "t", "at": 5}
    assert action_to_dict(CancelTimer("t")) == {"type": "cancelTimer", "timerId": "t"}
    assert action_to_dict(Log("info", "m", 1)) == {"type": "emit", "kind": "log", "data": {"level": "info", "message": "m", "t": 1}}
    with pytest.raises(TypeError):
        action_to_dict(object())


def test_dumps_gives_strict_json():
    text = dumps({"b": b"\x01\x02", "n": float("nan"), "i": [float("inf")], "s": "NaN"})
    assert json.loads(text) == {"b": [1, 2], "n": None, "i": [None], "s": "NaN"}
    assert "NaN\"" not in text.replace('"NaN"', "")


# ---------------------------------------------------------------- a page stand-in

def bits_of(text: str) -> list[int]:
    return list(hashlib.sha512(text.encode()).digest()[:48])


class Page:
    """Carries out actions like web/js/bridge.js: storage, timers by time, model stand-ins."""

    def __init__(self, storage: MemoryStorage):
        self.storage = storage
        self.timers: dict[str, int] = {}
        self.jobs: list[dict] = []
        self.sent: list[dict] = []
        self.emits: list[dict] = []
        self.now = T0

    def run(self, actions_json: str) -> list[dict]:
        actions = json.loads(actions_json)
        self.storage.apply([(a["table"], a["key"], a["record"]) for a in actions if a["type"] == "persist"])
        for a in actions:
            if a["type"] == "setTimer":
                self.timers[a["timerId"]] = a["at"]
            elif a["type"] == "cancelTimer":
                self.timers.pop(a["timerId"], None)
            elif a["type"] in ("runInference", "runEmbedding"):
                self.jobs.append(a)
            elif a["type"] == "send":
                self.sent.append(a["envelope"])
            elif a["type"] == "emit":
                self.emits.append(a)
        return actions

    def answer_jobs(self, host: NodeHost) -> None:
        while self.jobs:
            job = self.jobs.pop(0)
            self.now += 50
            if job["type"] == "runInference":
                out = {"type": "inferenceFinished", "jobId": job["jobId"], "output": f"echo: {job['prompt']}",
                       "tokenCount": 7, "startedAt": self.now - 40, "completedAt": self.now}
            else:
                out = {"type": "embeddingFinished", "jobId": job["jobId"],
                       "bits": [bits_of(t) for t in job["texts"]]}
            self.run(host.handle(json.dumps(out), self.now))

    def fire_next_timer(self, host: NodeHost) -> bool:
        if not self.timers:
            return False
        tid, at = min(self.timers.items(), key=lambda kv: (kv[1], kv[0]))
        del self.timers[tid]
        self.now = max(self.now, at)
        self.run(host.handle(json.dumps({"type": "timer", "timerId": tid}), self.now))
        return True


def workers_up(host: NodeHost, page: Page) -> None:
    for wid, kind, model in (("llm-1", "llm", LLM), ("emb-1", "embedding", EMB)):
        page.run(host.handle(json.dumps({"type": "worker", "workerId": wid, "kind": kind, "model": model,
                                         "state": "ready", "backend": "wasm"}), page.now))


def test_host_runs_a_quorum_of_one_and_restores_it():
    storage = MemoryStorage()
    page = Page(storage)
    host = NodeHost.start(KEY, json.dumps({"embeddingModel": EMB}), "{}", T0, seed=7, crypto="test")
    assert not host.restored
    page.run(host.boot(T0))
    workers_up(host, page)
    actions = page.run(host.handle(json.dumps({"type": "submit", "prompt": "Name a colour.", "quorum": 1,
                                               "timeMs": 5000, "maxTokens": 16}), page.now))
    rid = next(a["data"]["requestId"] for a in actions if a["type"] == "emit" and a["data"].get("requestId"))
    assert any(j["type"] == "runInference" for j in page.jobs)
    for _ in range(100):
        page.answer_jobs(host)
        view = json.loads(host.request_view(rid))
        if view["result"] is not None or not page.fire_next_timer(host):
            break
    view = json.loads(host.request_view(rid))
    assert view["status"] == "completed", view
    assert view["result"]["validSingleInference"]["output"] == "echo: Name a colour."
    states = [a["data"]["state"] for a in page.emits if a["kind"] == "request" and a["data"]["requestId"] == rid]
    for s in ("requested", "inferring", "committed", "reveal_requested", "done"):
        assert s in states, states
    assert storage.count("consensusResults") == 1 and storage.count("inferenceRequests") == 1
    status = json.loads(host.status())
    assert status["totalTokens"] == 7 and {w["kind"] for w in status["workers"]} == {"llm", "embedding"}

    # Reload: a new host from what storage holds keeps the request and its consensus result.
    again = NodeHost.start(KEY, "{}", json.dumps(storage.load_all()), page.now + 1000, seed=8)
    assert again.restored and again.synthient_id == host.synthient_id
    json.loads(again.boot(page.now + 1000))
    restored = json.loads(again.request_view(rid))
    assert restored["status"] == "completed"
    assert restored["result"] == view["result"]
    assert [v["requestId"] for v in json.loads(again.requests())] == [rid]


def test_host_restore_rearms_pending_timers():
    storage = MemoryStorage()
    page = Page(storage)
    host = NodeHost.start(KEY, "{}", "{}", T0, seed=1)
    page.run(host.boot(T0))
    page.run(host.handle(json.dumps({"type": "submit", "prompt": "p", "timeMs": 60_000}), T0))
    assert page.timers, "a v2 request arms its phase timers"
    again = NodeHost.start(KEY, "{}", json.dumps(storage.load_all()), T0 + 10, seed=2)
    rearmed = {a["timerId"]: a["at"] for a in json.loads(again.boot(T0 + 10)) if a["type"] == "setTimer"}
    assert rearmed == page.timers


def test_host_never_raises_on_bad_input():
    host = NodeHost.start(KEY, "{}", "{}", T0, seed=1)
    for bad in ("not json", json.dumps({"type": "nope"}), json.dumps({"type": "packet", "data": "{}",
                                                                         "channel": "x"})):
        out = json.loads(host.handle(bad, T0))
        assert isinstance(out, list)
    err = json.loads(host.handle("not json", T0))
    assert err[0]["kind"] == "error" and err[0]["data"]["where"] == "event"
    rejected = json.loads(host.handle(json.dumps({"type": "packet", "data": "{}", "channel": "x"}), T0))
    assert any(a["type"] == "emit" and a["kind"] == "rejected" for a in rejected)
    assert json.loads(host.request_view("unknown")) is None


def test_host_checks_identity_and_options():
    with pytest.raises(ValueError, match="identity mismatch"):
        NodeHost.start(KEY, "{}", "{}", T0, seed=1, expected_id="00" * 32)
    with pytest.raises(ValueError, match="unknown node options"):
        NodeHost.start(KEY, json.dumps({"bogus": 1}), "{}", T0, seed=1)
    h = NodeHost.start(KEY, json.dumps({"embeddingModelHash": "ab" * 32}), "{}", T0, seed=1)
    assert h.node.config.embedding_model_hash == "ab" * 32


# ---------------------------------------------------------------- WebCrypto provider glue

class FakeBridge:
    """What web/js/ed25519.js offers, computed with cryptography; 'promises' are plain values."""

    def __init__(self):
        self.real = CryptographyProvider()
        self.calls = []

    def publicKey(self, priv_hex):  # noqa: N802 - JS names
        self.calls.append("publicKey")
        return self.real.public_key(bytes.fromhex(priv_hex)).hex()

    def sign(self, priv_hex, msg_hex):
        self.calls.append("sign")
        return self.real.sign(bytes.fromhex(priv_hex), bytes.fromhex(msg_hex)).hex()

    def verify(self, pub_hex, sig_hex, msg_hex):
        self.calls.append("verify")
        if pub_hex == "ee" * 32:
            raise RuntimeError("importKey rejected the point")
        return self.real.verify(bytes.fromhex(pub_hex), bytes.fromhex(sig_hex), bytes.fromhex(msg_hex))


def test_webcrypto_provider_matches_cryptography():
    bridge = FakeBridge()
    awaited = []
    p = WebCryptoEd25519(bridge, run_sync=lambda v: awaited.append(v) or v)
    real = CryptographyProvider()
    priv = bytes.fromhex(KEY)
    assert p.public_key(priv) == real.public_key(priv)
    sig = p.sign(priv, b"hello")
    assert sig == real.sign(priv, b"hello")
    assert p.verify(real.public_key(priv), sig, b"hello")
    assert not p.verify(real.public_key(priv), sig, b"hellO")
    assert not p.verify(b"\xee" * 32, sig, b"hello")          # rejected promise -> False
    assert not p.verify(b"short", sig, b"hello")               # never reaches JS
    assert bridge.calls == ["publicKey", "sign", "verify", "verify", "verify"]
    assert len(awaited) == 4                                    # the raising call never settled
    with pytest.raises(ValueError):
        p.sign(b"x" * 31, b"m")


def test_choose_provider_prefers_cryptography():
    provider, name = choose_provider(bridge=FakeBridge(), run_sync=lambda v: v)
    assert name == "cryptography" and isinstance(provider, CryptographyProvider)
    assert codec.DEFAULT_LLM_MODEL == LLM
