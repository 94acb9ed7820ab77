"""Identity, packet signatures and the Ed25519 provider; cross-checked with node's crypto."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol import crypto
from rakis_py.protocol.canonical import float32_array_object, js_stringify
from rakis_py.protocol.crypto import CryptographyProvider
from rakis_py.protocol.identity import Identity, packet_message, packet_verifier, verify_packet
from tests.unit import jsnode

needs_node = pytest.mark.skipif(jsnode.NODE is None, reason="node is not on PATH: cannot compare with JavaScript")

# RFC 8032 §7.1, tests 1 and 2: (secret key, public key, message, signature).
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


def _identity(seed: int = 1) -> Identity:
    return Identity.generate(random.Random(seed).randbytes(32))


def _reveal(rng: random.Random, ident: Identity) -> dict:
    """A v1-shaped inferenceReveal (spec §4.9): typed arrays in their JS object form."""
    return {
        "createdAt": "2024-07-25T21:17:41.123+08:00",
        "type": "inferenceReveal",
        "requestedSynthientId": _identity(99).synthient_id,
        "requestId": "kq3j5n2mzt",
        "inferenceId": "kq3j5n2mzt.abcdef",
        "output": "Paris is the capital of France. \u00e9\u4e2d\U0001F600 \"quoted\"\n" * 8,
        "embedding": float32_array_object(rng.gauss(0, 0.05) for _ in range(768)),
        "bEmbedding": rng.randbytes(96),
    }


@pytest.mark.parametrize("secret,public,message,signature", RFC8032)
def test_rfc8032_known_answers(secret, public, message, signature):
    p = CryptographyProvider()
    assert p.public_key(bytes.fromhex(secret)).hex() == public
    assert p.sign(bytes.fromhex(secret), bytes.fromhex(message)).hex() == signature
    assert p.verify(bytes.fromhex(public), bytes.fromhex(signature), bytes.fromhex(message))
    assert not p.verify(bytes.fromhex(public), bytes.fromhex(signature), b"x" + bytes.fromhex(message))
    ident = Identity.from_private_key(secret)
    assert ident.synthient_id == public
    assert ident.private_key_hex == secret
    assert Identity.from_private_key(secret.upper()).synthient_id == public
    assert Identity.from_private_key(bytes.fromhex(secret)).synthient_id == public


def test_sign_verify_round_trip_and_envelope():
    ident = _identity()
    packet = {"type": "peerHeart", "windowX": 10, "windowY": 2.5, "createdAt": "2024-07-25T21:17:41.123+00:00"}
    sig = ident.sign_packet(packet)
    assert len(sig) == 128 and sig == sig.lower()
    assert len(ident.synthient_id) == 64 and ident.synthient_id == ident.synthient_id.lower()
    assert verify_packet(ident.synthient_id, sig, packet)
    assert sig == ident.sign_packet(dict(packet))  # deterministic
    env = ident.envelope(packet)
    assert list(env) == ["synthientId", "signature", "packet"]
    assert env["packet"] is packet and env["signature"] == sig
    assert verify_packet(**{"synthient_id": env["synthientId"], "signature": env["signature"],
                            "packet": env["packet"]})
    assert ident.private_key_hex not in repr(ident)


def test_tampering_any_field_fails():
    ident = _identity()
    rng = random.Random(3)
    packet = _reveal(rng, ident)
    sig = ident.sign_packet(packet)
    assert verify_packet(ident.synthient_id, sig, packet)
    for key in packet:
        changed = dict(packet)
        value = packet[key]
        if isinstance(value, str):
            changed[key] = value + " "
        elif isinstance(value, bytes):
            changed[key] = bytes([value[0] ^ 1]) + value[1:]
        else:
            changed[key] = dict(value, **{"5": value["5"] + 1e-9})
        assert not verify_packet(ident.synthient_id, sig, changed), key
        removed = {k: v for k, v in packet.items() if k != key}
        assert not verify_packet(ident.synthient_id, sig, removed), key
    assert not verify_packet(ident.synthient_id, sig, {**packet, "extra": None})
    reordered = dict(reversed(list(packet.items())))
    assert not verify_packet(ident.synthient_id, sig, reordered)  # v1 signs key order too
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert not verify_packet(ident.synthient_id, flipped, packet)
    assert not verify_packet(_identity(2).synthient_id, sig, packet)


def test_v1_reveal_verifies_after_wire_round_trip():
    """Signed with typed-array objects, sent as JSON, parsed back: still verifies (spec §2.2)."""
    ident = _identity(5)
    packet = _reveal(random.Random(5), ident)
    env = ident.envelope(packet)
    wire = js_stringify(env).encode("utf-8")
    parsed = json.loads(wire)
    assert isinstance(parsed["packet"]["bEmbedding"], dict)  # Uint8Array shape on the wire
    assert verify_packet(parsed["synthientId"], parsed["signature"], parsed["packet"])
    assert packet_message(parsed["packet"]) == packet_message(packet)


@needs_node
def test_node_accepts_our_signatures_and_signs_identically():
    """The real proof: node's own JSON.stringify + crypto.verify accept what we sign, and node
    signing the same object with the same key gives the very same (deterministic) signature."""
    rng = random.Random(11)
    idents = [_identity(s) for s in range(3)]
    packets = [_reveal(rng, idents[0])]
    for _ in range(40):
        spec = jsnode.random_spec(rng)
        packets.append({"type": "fuzz", "value": jsnode.from_spec(spec),
                        "text": jsnode.random_string(rng, 30), "n": jsnode.random_double(rng)})
    cases = []
    for i, packet in enumerate(packets):
        ident = idents[i % len(idents)]
        cases.append({"priv": ident.private_key_hex, "pub": ident.synthient_id,
                      "sig": ident.sign_packet(packet), "packet": jsnode.to_spec(packet)})
    body = r"""
    const crypto = require('crypto');
    const PKCS8 = '302e020100300506032b657004220420', SPKI = '302a300506032b6570032100';
    const out = input.map(c => {
      const priv = crypto.createPrivateKey({key: hex(PKCS8 + c.priv), format: 'der', type: 'pkcs8'});
      const pub = crypto.createPublicKey({key: hex(SPKI + c.pub), format: 'der', type: 'spki'});
      const derived = crypto.createPublicKey(priv).export({format: 'der', type: 'spki'}).subarray(12);
      const msg = Buffer.from(JSON.stringify(build(c.packet)), 'utf8');
      return {derived: derived.toString('hex'),
              ok: crypto.verify(null, msg, pub, hex(c.sig)),
              nodeSig: crypto.sign(null, msg, priv).toString('hex')};
    });
    console.log(JSON.stringify(out));
    """
    results = json.loads(jsnode.run_node(body, cases))
    assert len(results) == len(cases)
    for case, res in zip(cases, results):
        assert res["derived"] == case["pub"]
        assert res["ok"] is True
        assert res["nodeSig"] == case["sig"]
        assert verify_packet(case["pub"], res["nodeSig"], jsnode.from_spec(case["packet"]))


def test_the_provider_comes_through_the_constructor():
    calls = []
    real = CryptographyProvider()

    class Recording:
        def public_key(self, private_key):
            calls.append("public_key")
            return real.public_key(private_key)

        def sign(self, private_key, message):
            calls.append("sign")
            return real.sign(private_key, message)

        def verify(self, public_key, signature, message):
            calls.append("verify")
            return real.verify(public_key, signature, message)

    rec = Recording()
    ident = Identity.from_private_key(bytes(range(32)), rec)
    sig = ident.sign_packet({"a": 1})
    assert packet_verifier(rec)(ident.synthient_id, sig, {"a": 1})
    assert calls == ["public_key", "sign", "verify"]
    assert packet_verifier() is verify_packet
    assert not hasattr(crypto, "set_default_provider")


def test_importable_without_cryptography():
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from rakis_py.protocol import identity, crypto\n"
        "try:\n    crypto.cryptography_provider()\nexcept RuntimeError as e:\n    print('RuntimeError', e)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("RuntimeError") and "Ed25519Provider" in proc.stdout


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "ab" * 31, "zz" * 32, "ab" * 32 + "\n", 123])
def test_bad_private_keys_are_refused(bad):
    with pytest.raises(ValueError):
        Identity.from_private_key(bad)  # type: ignore[arg-type]
    if not isinstance(bad, str):
        with pytest.raises(ValueError):
            Identity.generate(bad)  # type: ignore[arg-type]


def test_malformed_ids_and_signatures_are_false():
    ident = _identity()
    packet = {"type": "x", "v": [1, 2.5, "s"]}
    sid, sig = ident.synthient_id, ident.sign_packet(packet)
    assert verify_packet(sid, sig, packet)
    bad_ids = [sid.upper(), sid[:-1], sid + "0", " " + sid[1:], sid + "\n", "g" + sid[1:], b"\x00" * 32,
               bytes.fromhex(sid), None, 0, "ff" * 32, "00" * 32, "01" + "00" * 31,
               "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"]  # y >= p
    for bad in bad_ids:
        assert verify_packet(bad, sig, packet) is False, bad
    S = int.from_bytes(bytes.fromhex(sig[64:]), "little")
    L = 2**252 + 27742317777372353535851937790883648493
    malleated = sig[:64] + (S + L).to_bytes(32, "little").hex()  # non-canonical S: must refuse
    bad_sigs = [sig.upper(), sig[:-1], sig + "0", "0" * 128, "f" * 128, malleated, bytes.fromhex(sig), None]
    for bad in bad_sigs:
        assert verify_packet(sid, bad, packet) is False, bad
    cyclic: dict = {}
    cyclic["self"] = cyclic
    for bad_packet in [None, [packet], json.dumps(packet), {1: "x"}, {"a": object()}, cyclic, {"a": {1.5}}]:
        assert verify_packet(sid, sig, bad_packet) is False


hexish = st.text(alphabet="0123456789abcdefABCDEFg \n", max_size=130)
junk = st.none() | st.integers() | st.binary(max_size=70) | hexish | st.text(max_size=5)
packets = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=4) | st.binary(max_size=4),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3) | st.integers(), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(junk, junk, packets)
def test_verify_packet_never_raises_on_junk(sid, sig, packet):
    assert verify_packet(sid, sig, packet) is False


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 63), st.integers(0, 127), st.sampled_from("0123456789abcdef"), st.binary(min_size=32, max_size=32))
def test_verify_packet_false_on_mutated_valid_inputs(i, j, ch, key):
    ident = Identity.generate(key)
    packet = {"type": "x", "n": struct.unpack("<f", key[:4])[0], "k": key}
    sid, sig = ident.synthient_id, ident.sign_packet(packet)
    assert verify_packet(sid, sig, packet)
    sid2 = sid[:i] + ch + sid[i + 1:]
    sig2 = sig[:j] + ch + sig[j + 1:]
    assert verify_packet(sid2, sig, packet) is (sid2 == sid)
    assert verify_packet(sid, sig2, packet) is (sig2 == sig)


def test_module_exports():
    assert {"Ed25519Provider", "CryptographyProvider", "cryptography_provider"} <= set(crypto.__all__)
