"""`rakis serve --tls`: the self-signed certificate (names, reuse, renewal), https on the page
server, and the config that sends the page to wss://<its host>/relay/<name>."""
import hashlib
import json
import socket
import ssl
import stat

import pytest

from rakis_py.serve import tls
from rakis_py.serve.site_config import SiteConfig
from rakis_py.serve.static import StaticServer

x509 = pytest.importorskip("cryptography.x509", reason="cryptography not installed")

NAMES = ["lan.test", "vm", "192.168.1.5", "localhost", "127.0.0.1", "::1"]


def _client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def test_self_signed_covers_the_names_as_dns_and_ip_entries(tmp_path):
    cert = tls.self_signed(tmp_path / "tls", NAMES)
    assert cert.generated and cert.names == tuple(NAMES)
    parsed = x509.load_pem_x509_certificate(cert.cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["lan.test", "vm", "localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["192.168.1.5", "127.0.0.1", "::1"]
    assert parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert stat.S_IMODE(cert.key.stat().st_mode) == 0o600
    assert len(cert.fingerprint.split(":")) == 32


def test_certificate_is_reused_until_a_name_is_missing(tmp_path):
    first = tls.self_signed(tmp_path, NAMES)
    again = tls.self_signed(tmp_path, NAMES[:3])  # a subset: still covered
    assert not again.generated and again.fingerprint == first.fingerprint
    moved = tls.self_signed(tmp_path, [*NAMES, "10.0.0.7"])  # the LAN address changed
    assert moved.generated and moved.fingerprint != first.fingerprint
    assert "10.0.0.7" in moved.names


def test_expiring_certificate_is_replaced(tmp_path):
    cert_pem, key_pem = tls.generate(NAMES, valid_days=3)  # inside RENEW_BEFORE
    (tmp_path / tls.CERT_FILE).write_bytes(cert_pem)
    (tmp_path / tls.KEY_FILE).write_bytes(key_pem)
    assert tls.self_signed(tmp_path, NAMES).generated


def test_local_names_skip_wildcards_and_keep_loopback():
    names = tls.local_names("0.0.0.0", "192.0.2.7")
    assert "0.0.0.0" not in names and "192.0.2.7" in names
    assert {"localhost", "127.0.0.1", socket.gethostname()} <= set(names)
    assert tls.local_names("lan.test")[0] == "lan.test"


def test_given_pair_must_match(tmp_path):
    a = tls.self_signed(tmp_path / "a", NAMES)
    b = tls.self_signed(tmp_path / "b", NAMES)
    assert tls.given(a.cert, a.key).fingerprint == a.fingerprint
    with pytest.raises(ssl.SSLError):
        tls.given(a.cert, b.key)


def test_page_server_speaks_https_with_that_certificate(tmp_path, site_dir):
    cert = tls.self_signed(tmp_path / "tls", ["localhost", "127.0.0.1"])
    config = SiteConfig(relay_ports={"nostr": 1, "mqtt": 2}, proxied=True, tls=True)
    with StaticServer(site_dir, "127.0.0.1", 0, config.to_json, ssl_context=cert.ssl_context()) as srv:
        config.page_port = srv.port
        assert srv.url.startswith("https://127.0.0.1:")
        # A client that connects and never says hello does not hold up the others.
        stalled = socket.create_connection(("127.0.0.1", srv.port))
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw, \
                    _client_ctx().wrap_socket(raw, server_hostname="localhost") as s:
                der = s.getpeercert(binary_form=True)
                s.sendall(b"GET /rakis-config.json HTTP/1.1\r\nHost: lan.test:8443\r\n\r\n")
                body = b""
                while chunk := s.recv(65536):
                    body += chunk
        finally:
            stalled.close()
    assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == cert.fingerprint
    head, _, payload = body.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and b"Cross-Origin-Embedder-Policy: require-corp" in head
    assert json.loads(payload)["relays"] == {"nostr": ["wss://lan.test:8443/relay/nostr"],
                                             "mqtt": ["wss://lan.test:8443/relay/mqtt"]}


def test_proxied_config_urls():
    c = SiteConfig(relay_ports={"nostr": 8001}, proxied=True, tls=True, page_port=8443)
    assert c.to_json("[::1]:8443")["relays"] == {"nostr": ["wss://[::1]:8443/relay/nostr"]}
    assert c.to_json("example")["relays"] == {"nostr": ["wss://example/relay/nostr"]}
    # No usable Host header: the bound address and the page port.
    assert c.to_json(None)["relays"] == {"nostr": ["wss://127.0.0.1:8443/relay/nostr"]}
    assert c.to_json("evil/x:1")["relays"] == {"nostr": ["wss://127.0.0.1:8443/relay/nostr"]}
    assert c.to_json("h:99999")["relays"] == {"nostr": ["wss://127.0.0.1:8443/relay/nostr"]}
    plain = SiteConfig(relay_ports={"nostr": 8001}, proxied=True, page_port=8000)
    assert plain.to_json("h:8000")["relays"] == {"nostr": ["ws://h:8000/relay/nostr"]}
    # The default is unchanged: direct relay ports.
    assert SiteConfig(relay_ports={"nostr": 8001}).to_json("h:8000")["relays"] == {"nostr": ["ws://h:8001"]}
