"""`python -m rakis_py.serve` end to end: it serves, hands out its relays, and stops cleanly."""
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rakis_py.serve.cli import check_topic, parse_args

from .support import get, pid_gone

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serving(site_dir, *extra, entry=("rakis_py.serve",)):
    """A running `serve` (proc, banner), killed on the way out if the test did not stop it."""
    proc, banner = _start(site_dir, *extra, entry=entry)
    try:
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(site_dir, *extra, entry=("rakis_py.serve",)):
    proc = subprocess.Popen([sys.executable, "-m", *entry, "--dist", str(site_dir),
                             "--port", "0", *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    else:
        proc.wait(5)
        pytest.fail(f"serve did not start: {''.join(lines)} {proc.stderr.read()}")
    return proc, "".join(lines)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_runs_and_stops_on_signal(needs_nostr, site_dir, sig):
    with serving(site_dir, "--topic", "labnet") as (proc, banner):
        url = re.search(r"(http://\S+/)", banner).group(1)
        relay_pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", banner)]
        assert relay_pids, banner
        cfg = json.loads(get(url + "rakis-config.json")[2])
        assert cfg["topic"] == "labnet" and cfg["iceServers"] == []
        assert "nostr" in cfg["relays"]
        # The advertised relay really listens.
        port = int(cfg["relays"]["nostr"][0].rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert "stopped" in proc.stdout.read()
        assert all(pid_gone(p) for p in relay_pids)


def test_readme_entry_point_serves_on_the_given_host_only(needs_nostr, site_dir):
    """`python -m rakis_py serve --host H` (what ./dev serve runs): the page and every relay are on H
    (127.0.0.2 here: another loopback address, so nothing answers on 127.0.0.1)."""
    with serving(site_dir, "--host", "127.0.0.2", entry=("rakis_py", "serve")) as (proc, banner):
        url = re.search(r"(http://\S+/)", banner).group(1)
        assert url.startswith("http://127.0.0.2:"), banner
        cfg = json.loads(get(url + "rakis-config.json")[2])
        relays = [u for urls in cfg["relays"].values() for u in urls]
        assert relays and all("//127.0.0.2:" in u for u in relays), cfg
        for u in relays:
            port = int(u.rsplit(":", 1)[1].split("/")[0])
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


def test_serve_reports_a_taken_port_and_exits(needs_nostr, site_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir),
                            "--port", "0", "--nostr-port", str(port)],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use (nostr relay); choose another with --nostr-port" in r.stderr


def test_serve_without_a_built_site_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(tmp_path), "--port", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "python build.py" in r.stderr


def test_relay_ports_follow_the_page_port():
    a = parse_args(["--port", "9000"])
    assert (a.nostr_port, a.mqtt_port, a.mqtt_tcp_port) == (9001, 9002, 9003)
    b = parse_args(["--port", "9000", "--nostr-port", "7447"])
    assert b.nostr_port == 7447 and b.mqtt_port == 9002
    assert parse_args(["--port", "0"]).nostr_port == 0


def test_topic_checks():
    assert check_topic("rakis2") is None
    assert "1-64" in check_topic("")
    # A name that maps to a kind the local relay refuses (found by search): serve refuses it up front.
    from rakis_py.serve.trystero_names import network_kind
    bad = "n83038"
    assert network_kind(bad) in (22242, 24242, 27235)
    assert "pick another --topic" in check_topic(bad)


def test_serve_reports_a_relay_that_dies_and_keeps_serving(needs_nostr, site_dir):
    with serving(site_dir, "--no-mqtt") as (proc, banner):
        url = re.search(r"(http://\S+/)", banner).group(1)
        nostr_pid = int(re.search(r"nostr\s+relay \S+\s+\(pid (\d+)\)", banner).group(1))
        os.kill(nostr_pid, signal.SIGKILL)
        line = proc.stderr.readline()
        assert "the nostr relay exited" in line
        assert get(url + "index.html")[0] == 200  # the page is still served
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


# ---------------------------------------------------------------- --ice-servers

STUN = [{"urls": "stun:stun.example.org:3478"}]
TURN = [{"urls": ["turn:turn.example.org:3478", "turns:turn.example.org:5349"], "username": "u", "credential": "p"}]
# The ICE-server check's cases, shared with the page's copy (tests/js/test_shared_rules.py).
BAD_ICE = {c["value"]: c["why"] for c in json.loads((ROOT / "tests" / "cases" / "ice_servers.json").read_text())["bad"]}


def test_ice_servers_option_is_parsed_and_checked(capsys):
    assert parse_args([]).ice_servers == []
    assert parse_args(["--ice-servers", json.dumps(STUN + TURN)]).ice_servers == STUN + TURN
    assert parse_args(["--ice-servers", "[]"]).ice_servers == []
    for value, why in BAD_ICE.items():
        with pytest.raises(SystemExit) as e:
            parse_args(["--ice-servers", value])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "argument --ice-servers:" in err and why in err, (value, err)


def test_ice_servers_reach_the_page_config(needs_nostr, site_dir):
    with serving(site_dir, "--no-mqtt", "--ice-servers", json.dumps(STUN + TURN)) as (proc, banner):
        assert "ICE servers: stun:stun.example.org:3478, turn:turn.example.org:3478" in banner
        url = re.search(r"(http://\S+/)", banner).group(1)
        cfg = json.loads(get(url + "rakis-config.json")[2])
        assert cfg["iceServers"] == STUN + TURN
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_a_bad_ice_servers_value_stops_serve_before_anything_starts(site_dir):
    r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir), "--port", "0",
                        "--ice-servers", '[{"url": "stun:a"}]'], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and 'the key is "urls"' in r.stderr and "Ctrl-C" not in r.stdout


def test_the_serve_extra_matches_the_requirements():
    """`pip install 'rakis-py[serve]'` gets the local Nostr relay, pinned as requirements/serve.in."""
    import tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = [line.strip() for line in (ROOT / "requirements" / "serve.in").read_text().splitlines()
              if line.strip().startswith("nostr-sdk")]
    assert pinned == ["nostr-sdk==0.45.1"] and extras["serve"] == pinned


def test_serve_without_nostr_sdk_names_the_extra(site_dir, tmp_path):
    # A sitecustomize on the path that hides nostr_sdk, as if it were not installed.
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text("import sys\nsys.modules['nostr_sdk'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "hide"), str(ROOT)]))
    r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir), "--port", "0", "--no-mqtt"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "nostr-sdk is not installed: pip install 'rakis-py[serve]'" in r.stderr
