"""The page's JS modules that need no browser (identity, ed25519, timers, loopback), run in Node and
cross-checked with Python: the identity blob is v1's format and decrypts with `cryptography`, the
synthientId WebCrypto derives is the one the core derives, signatures verify both ways."""
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rakis_py.protocol.identity import Identity, packet_message

DRIVER = Path(__file__).parent / "js" / "web_modules.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js 20+) not installed")


def run(*args: str) -> dict:
    done = subprocess.run([NODE, str(DRIVER), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def py_decrypt(blob: str, password: str) -> str:
    ct, iv, salt = blob.split(".")
    key = PBKDF2HMAC(hashes.SHA256(), 32, bytes.fromhex(salt), 100_000).derive(password.encode())
    return AESGCM(key).decrypt(bytes.fromhex(iv), base64.b64decode(ct), None).decode()


def py_encrypt(plaintext: str, password: str) -> str:
    salt, iv = bytes(range(16)), bytes(range(12))
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 100_000).derive(password.encode())
    ct = AESGCM(key).encrypt(iv, plaintext.encode(), None)
    return f"{base64.b64encode(ct).decode()}.{iv.hex()}.{salt.hex()}"


def test_identity_blob_is_v1_format_and_keys_agree_with_python():
    r = run("identity")
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*\.[0-9a-f]{24}\.[0-9a-f]{32}", r["blob"])
    info = json.loads(py_decrypt(r["blob"], "pw one"))
    assert info["synthientPrivKey"] == r["created"]["privateKeyHex"]
    assert Identity.from_private_key(info["synthientPrivKey"]).synthient_id == r["created"]["synthientId"]
    assert r["created"]["created"] is True and r["unlocked"]["created"] is False
    assert r["unlocked"]["synthientId"] == r["created"]["synthientId"]
    assert r["wrong"]["isWrong"] and "Wrong password" in r["wrong"]["message"]
    assert r["blobUnchanged"] is True
    assert "password" in r["empty"]
    assert r["overwritten"]["synthientId"] != r["created"]["synthientId"]
    assert r["blobAfterOverwrite"] != r["blob"]
    assert json.loads(py_decrypt(r["blobAfterOverwrite"], "pw two"))["synthientId"] == r["overwritten"]["synthientId"]


def test_identity_reads_a_blob_written_elsewhere():
    blob = py_encrypt('{"synthientPrivKey": "' + "07" * 32 + '"}', "secret")
    assert json.loads(run("decrypt", blob, "secret")["plaintext"])["synthientPrivKey"] == "07" * 32
    assert run("decrypt", blob, "Secret") == {"error": "WrongPassword"}
    assert py_decrypt(run("encrypt", "hello", "pw")["blob"], "pw") == "hello"


def test_webcrypto_ed25519_matches_the_core():
    ident = Identity.from_private_key("42" * 32)
    packet = {"type": "x", "text": "packet bytes ✓"}
    sig = ident.sign_packet(packet)
    msg = packet_message(packet).hex()
    r = run("ed25519", "42" * 32, msg, ident.synthient_id, sig)
    assert r["publicKey"] == ident.synthient_id
    assert r["signature"] == sig                # Ed25519 is deterministic: identical bytes
    assert r["verifiesPython"] and r["rejectsTampered"] and r["rejectsBadKey"]


def test_timers_fire_in_order_replace_and_cancel():
    r = run("timers")
    assert r["listed"] == ["past", "a", "b", "d"]
    assert r["fired"] == ["past", "a", "b", "d"]
    assert r["left"] == 0


def test_loopback_delivers_an_async_parsed_copy():
    r = run("loopback")
    assert r["before"] == 0                     # never synchronously inside send()
    assert len(r["got"]) == 1 and r["sameObject"] is False
    got = r["got"][0]
    assert got["channel"] == "loopback" and got["env"]["packet"]["text"] == "é"
    assert got["size"] == len(json.dumps(got["env"], separators=(",", ":"), ensure_ascii=False).encode())
    assert r["channels"] == ["loopback"] and r["sent"] == 1 and r["received"] == 1
    assert r["own"] == ["ab"]                   # a relayed envelope (another id) is not echoed


def test_network_transport_adapts_the_trystero_transport():
    r = run("network")
    assert r["selfId"] == "me"
    assert r["got"] == [{"env": {"packet": 1}, "channel": "mqtt", "size": 77, "receivedAt": 1234}]
    assert r["sent"] == [{"envelope": {"e": 1}, "to": ["aa"]}, {"envelope": {"e": 2}, "to": None}, "closed"]
    assert r["channels"] == ["loopback", "nostr", "mqtt"]
    assert r["peers"] == ["aa", "p2"]
