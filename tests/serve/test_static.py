"""The page server: isolation headers, MIME types, the dynamic relay configuration, clear errors."""
import json
import socket
import urllib.error

import pytest

from rakis_py.serve.ports import PortInUse
from rakis_py.serve.site_config import SiteConfig, _hostname
from rakis_py.serve.static import StaticServer

from .support import get


@pytest.fixture
def server(site_dir):
    config = SiteConfig(topic="testnet", relay_ports={"nostr": 7001, "mqtt": 7002})
    with StaticServer(site_dir, "127.0.0.1", 0, config.to_json) as s:
        yield s


def test_isolation_headers_on_every_file(server):
    for path in ("", "index.html", "vendor/trystero/nostr.mjs", "m.wasm", "rakis-config.json"):
        status, headers, _ = get(server.url + path)
        assert status == 200
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize("path,mime", [("vendor/trystero/nostr.mjs", "text/javascript"),
                                       ("app.js", "text/javascript"),
                                       ("m.wasm", "application/wasm"),
                                       ("data.json", "application/json"),
                                       ("index.html", "text/html")])
def test_mime_types(server, path, mime):
    _, headers, body = get(server.url + path)
    assert headers["Content-Type"].split(";")[0] == mime
    assert body == (server.dist / path).read_bytes()


def test_config_lists_relays_topic_and_no_ice_servers(server):
    _, headers, body = get(server.url + "rakis-config.json")
    assert headers["Content-Type"] == "application/json"
    cfg = json.loads(body)
    assert cfg["topic"] == "testnet"
    assert cfg["relays"] == {"nostr": ["ws://127.0.0.1:7001"], "mqtt": ["ws://127.0.0.1:7002"]}
    assert cfg["iceServers"] == []


def test_config_follows_the_host_the_browser_used(server):
    # A LAN client that opened http://192.168.1.5:PORT/ must get relay URLs on that address.
    _, _, body = get(server.url + "rakis-config.json", {"Host": f"192.168.1.5:{server.port}"})
    assert json.loads(body)["relays"]["nostr"] == ["ws://192.168.1.5:7001"]


def test_config_ignores_a_hostile_host_header():
    cfg = SiteConfig(relay_ports={"nostr": 1}, bind_host="10.0.0.2")
    assert cfg.to_json('evil"/><script>:80')["relays"]["nostr"] == ["ws://10.0.0.2:1"]
    assert _hostname("[::1]:8000") == "[::1]"
    assert _hostname("example.org") == "example.org"
    assert _hostname("") is None


def test_missing_file_is_404_with_headers(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(server.url + "nope.js")
    assert e.value.code == 404


def test_port_clash_is_a_clear_error(site_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as e:
            StaticServer(site_dir, "127.0.0.1", port).start()
    assert f"port {port} on 127.0.0.1 is already in use (page server)" in str(e.value)
    assert "--port" in str(e.value)


def test_missing_dist_says_build_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="build"):
        StaticServer(tmp_path, "127.0.0.1", 0).start()
