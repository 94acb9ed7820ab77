"""`python -m rakis_py.serve --tls` end to end: https on the page port, the real relays reached as
wss://<host>:<page port>/relay/<name> through it, the certificate reused by the next run."""
import json
import re
import signal
import ssl
import subprocess
import sys
import urllib.request

import pytest

from rakis_py.serve.relays import MosquittoRelay

from .test_cli import ROOT, _start

# MQTT 3.1.1 CONNECT (client id "", clean session, keep-alive 60) and the CONNACK that accepts it.
MQTT_CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])
MQTT_CONNACK_OK = bytes([0x20, 2, 0, 0])


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0


def test_tls_serve_proxies_the_relays_and_reuses_its_certificate(needs_nostr, site_dir, tmp_path):
    from websockets.sync.client import connect
    tls_dir = tmp_path / "tls"
    proc, banner = _start(site_dir, "--tls", "--tls-dir", str(tls_dir))
    try:
        url = re.search(r"(https://\S+/)", banner).group(1)
        fingerprint = re.search(r"SHA-256 ([0-9A-F:]{95})", banner).group(1)
        assert "certificate (generated)" in banner and "accept" in banner.lower()
        # Behind the proxy the relays listen on loopback only.
        assert all(u.startswith("ws://127.0.0.1:") for u in re.findall(r"relay (ws://\S+)", banner))
        port = int(url.rsplit(":", 1)[1].rstrip("/"))
        req = urllib.request.Request(url + "rakis-config.json", headers={"Host": f"lan.test:{port}"})
        with urllib.request.urlopen(req, context=_insecure(), timeout=5) as r:
            cfg = json.loads(r.read())
        assert cfg["relays"]["nostr"] == [f"wss://lan.test:{port}/relay/nostr"]
        with connect(f"wss://localhost:{port}/relay/nostr", ssl=_insecure()) as ws:
            ws.send(json.dumps(["REQ", "x", {"kinds": [1], "limit": 1}]))
            assert json.loads(ws.recv(timeout=5)) == ["EOSE", "x"]
        if MosquittoRelay.available() is None:
            assert cfg["relays"]["mqtt"] == [f"wss://lan.test:{port}/relay/mqtt"]
            with connect(f"wss://localhost:{port}/relay/mqtt", ssl=_insecure(), subprotocols=["mqtt"]) as ws:
                ws.send(MQTT_CONNECT)
                assert ws.recv(timeout=5) == MQTT_CONNACK_OK
    finally:
        _stop(proc)
    proc, banner = _start(site_dir, "--tls", "--tls-dir", str(tls_dir))
    _stop(proc)
    assert "certificate (reused)" in banner and fingerprint in banner


def test_cert_without_key_is_refused(site_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir), "--port", "0",
                        "--cert", str(tmp_path / "c.pem")], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--cert and --key go together" in r.stderr


def test_unreadable_cert_is_a_clear_error(site_dir, tmp_path):
    (tmp_path / "c.pem").write_text("not a certificate")
    r = subprocess.run([sys.executable, "-m", "rakis_py.serve", "--dist", str(site_dir), "--port", "0",
                        "--cert", str(tmp_path / "c.pem"), "--key", str(tmp_path / "c.pem")],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "no usable TLS certificate" in r.stderr
