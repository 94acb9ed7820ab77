import importlib.util
import shutil

import pytest

from rakis_py.serve.relays import MosquittoRelay, NostrRelay


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: tests that drive Debian chromium (seconds each)")


@pytest.fixture
def needs_nostr():
    why = NostrRelay.available()
    if why:
        pytest.skip(why)
    if importlib.util.find_spec("websockets") is None:
        pytest.skip("websockets is not installed (the test's Nostr client)")


@pytest.fixture
def needs_mosquitto():
    why = MosquittoRelay.available()
    if why:
        pytest.skip(why)


@pytest.fixture
def site_dir(tmp_path):
    """A minimal dist: index.html plus one file of each type whose MIME type matters."""
    d = tmp_path / "dist"
    (d / "vendor" / "trystero").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>t</title>")
    (d / "vendor" / "trystero" / "nostr.mjs").write_text("export const x = 1;\n")
    (d / "app.js").write_text("export const y = 2;\n")
    (d / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    (d / "data.json").write_text("{}")
    return d
