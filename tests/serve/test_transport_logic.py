"""web/js/transport's browser-free logic, run in Node: configuration fallbacks and the rejoin rule."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def out():
    node = shutil.which("node")
    if not node:
        pytest.skip("node not installed")
    r = subprocess.run([node, str(HERE / "js_logic.mjs")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_open_web_defaults_use_trystero_relays(out):
    d = out["defaults"]
    assert d["source"] == "defaults" and d["topic"] == "rakis2"
    assert d["relays"] == {"nostr": None, "mqtt": None} and d["iceServers"] is None


def test_served_config_is_kept(out):
    s = out["served"]
    assert s["topic"] == "lab" and s["iceServers"] == []
    assert s["relays"] == {"nostr": ["ws://10.0.0.2:8001"], "mqtt": ["ws://10.0.0.2:8002"]}


def test_malformed_fields_fall_back_one_by_one(out):
    assert out["hostile"]["topic"] == "rakis2"
    assert out["hostile"]["relays"] == {"nostr": None, "mqtt": None}
    assert out["hostile"]["iceServers"] is None
    # A bad channel entry is dropped, a good one kept (no public mqtt relay sneaks in).
    assert out["partial"]["relays"] == {"nostr": ["wss://relay.example"]}


def test_missing_or_unreachable_config_gives_defaults(out):
    assert out["notFound"]["source"] == "defaults"
    assert out["fetchFails"]["source"] == "defaults" and out["fetchFails"]["topic"] == "fork"
    assert out["fetched"]["relays"] == {"nostr": ["ws://h:1"]} and out["fetched"]["topic"] == "t"


def test_rejoin_rule_timeline(out):
    trace = {t: (state, relay, decision) for t, state, relay, decision in out["trace"]}
    assert trace[0] == ("joining", "connecting", None)
    assert trace[1000] == ("live", "open", None)
    assert trace[2000] == ("live", "down", None)       # relay gone, peer link still open
    assert trace[5000] == ("down", "down", None)
    assert trace[7999][2] is None                       # grace period
    assert trace[8000][2] == "probe"
    assert trace[8500][2] is None                       # backoff after a failed probe
    assert trace[9000][2] == "probe"
    assert trace[10000][2] is None                      # backoff doubled
    assert trace[11000][2] == "probe"
    assert trace[12000][2] is None                      # settling after a good probe
    assert trace[13000][2] == "rejoin"
    assert trace[13500] == ("joining", "connecting", None)
    assert trace[14000] == ("live", "open", None)
    assert out["afterRejoin"] == {"rejoins": 1, "generation": 1, "state": "live"}


def test_short_outage_heals_without_rejoin(out):
    assert out["selfHealed"]["decisions"] == [None] * 5
    assert out["selfHealed"]["rejoins"] == 0 and out["selfHealed"]["state"] == "live"


def test_error_list_is_bounded(out):
    assert out["errors"] == [f"e{i}" for i in range(15, 25)]


def test_a_lost_hello_is_asked_for_again_and_answered(out):
    h = out["hello"]
    # Both first hellos were lost: neither side can name the other.
    assert h["before"] == {"a": [], "b": []}
    # a greets the peer it cannot name and b, told a has not heard it, answers: by the time b
    # looks, it has nobody left to greet. Each hello event is reported once.
    assert h["regreeted"] == {"a": 1, "b": 0}
    assert h["after"] == {"a": ["b"], "b": ["a"]}
    assert h["again"] == {"a": 0, "b": 0}
