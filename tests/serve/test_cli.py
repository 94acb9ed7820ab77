"""`python -m rakis_py.serve` end to end: it serves, hands out its relays, and stops cleanly."""
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


def _start(site_dir, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir),
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
    proc, banner = _start(site_dir, "--topic", "labnet")
    try:
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
    proc, banner = _start(site_dir, "--no-mqtt")
    try:
        url = re.search(r"(http://\S+/)", banner).group(1)
        nostr_pid = int(re.search(r"nostr\s+relay \S+\s+\(pid (\d+)\)", banner).group(1))
        os.kill(nostr_pid, signal.SIGKILL)
        line = proc.stderr.readline()
        assert "the nostr relay exited" in line
        assert get(url + "index.html")[0] == 200  # the page is still served
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
