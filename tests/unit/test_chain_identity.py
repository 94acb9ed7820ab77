"""Chain identities (spec §2.5): the claimed address must be the EIP-191 signer of the synthientId.

Signatures are made here with eth-keys from fixed private keys, over an EIP-191 message the test
builds itself, so the module's own framing is checked against an independent construction (and
against viem's documented `signMessage('hello world')` vector)."""

import random
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol.peers import PeerTable
from rakis_py.runtime import chain_identity
from rakis_py.runtime.chain_identity import (
    chain_identity_available,
    eip191_message,
    recover_address,
    verify_chain_identity,
)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = 2**256 - 2**32 - 977
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def eth():
    keys = pytest.importorskip("eth_keys", reason="eth-keys not installed (lead adds it)").keys
    pytest.importorskip("Crypto.Hash.keccak", reason="pycryptodome (keccak backend) not installed")
    from eth_hash.auto import keccak

    return types.SimpleNamespace(keys=keys, keccak=keccak)


def synthient_id(rng: random.Random) -> str:
    return rng.randbytes(32).hex()


def private_key(eth, seed: int):
    return eth.keys.PrivateKey(random.Random(seed).randbytes(32))


def personal_sign(eth, key, text: str, v_offset: int = 27) -> str:
    """What a wallet returns for personal_sign(text): 0x r||s||v with v = 27/28."""
    data = text.encode()
    message = b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data
    signature = key.sign_msg_hash(eth.keccak(message))
    r, s, v = signature.r, signature.s, signature.v
    return "0x" + r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex() + f"{v + v_offset:02x}"


def identity(address: str, signature: str) -> dict:
    return {"chain": "Ethereum", "address": address, "synthientIdSignature": signature,
            "signedWithWallet": "MetaMask"}


def v1_verify_eth_chain_signature(eth, synthient_id: str, signature: str) -> bool:
    """v1's `verifyEthChainSignature` (spec §2.5, simple-crypto.ts:12-35): recoverMessageAddress,
    then verifyMessage against that recovered address. The claimed address is never looked at."""
    raw = bytes.fromhex(signature[2:])
    sig = eth.keys.Signature(vrs=(raw[64] - 27, int.from_bytes(raw[:32], "big"),
                                  int.from_bytes(raw[32:64], "big")))
    msg_hash = eth.keccak(eip191_message(synthient_id))
    recovered = sig.recover_public_key_from_msg_hash(msg_hash).to_checksum_address()
    # verifyMessage(address=recovered): recovers again and compares, so always True here.
    return sig.recover_public_key_from_msg_hash(msg_hash).to_checksum_address() == recovered


# -- framing -----------------------------------------------------------------------------------


def test_eip191_framing_matches_viem_documented_vector(eth):
    """viem docs: signMessage('hello world') by anvil account #0 gives this signature."""
    sig = bytes.fromhex(
        "a461f509887bd19e312c0c58467ce8ff8e300d3c1a90b608a760c5b80318eaf1"
        "5fe57c96f9175d6cd4daad4663763baa7e78836e067d0163e9a2ccf2ff753f5b1b")
    signature = eth.keys.Signature(vrs=(sig[64] - 27, int.from_bytes(sig[:32], "big"),
                                        int.from_bytes(sig[32:64], "big")))
    recovered = signature.recover_public_key_from_msg_hash(eth.keccak(eip191_message("hello world")))
    assert recovered.to_checksum_address() == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert eip191_message("ab") == b"\x19Ethereum Signed Message:\n2ab"


# -- (a) genuine identities --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_genuine_identity_passes(eth, seed):
    rng = random.Random(seed)
    sid = synthient_id(rng)
    key = private_key(eth, 100 + seed)
    address = key.public_key.to_checksum_address()
    assert recover_address(sid, personal_sign(eth, key, sid)) == address.lower()
    assert verify_chain_identity(sid, identity(address, personal_sign(eth, key, sid)))


def test_address_compare_is_case_insensitive_and_v_may_be_0_or_1(eth):
    sid = synthient_id(random.Random(7))
    key = private_key(eth, 7)
    address = key.public_key.to_checksum_address()
    for claimed in (address, address.lower(), "0x" + address[2:].upper()):
        assert verify_chain_identity(sid, identity(claimed, personal_sign(eth, key, sid)))
    assert verify_chain_identity(sid, identity(address, personal_sign(eth, key, sid, v_offset=0)))
    upper_sig = "0x" + personal_sign(eth, key, sid)[2:].upper()
    assert verify_chain_identity(sid, identity(address, upper_sig))


# -- (b) the v1 weakness (§15.13) --------------------------------------------------------------


def test_claiming_someone_elses_address_passes_v1_but_fails_here(eth):
    sid = synthient_id(random.Random(11))
    victim = private_key(eth, 1).public_key.to_checksum_address()
    attacker = private_key(eth, 2)
    forged = identity(victim, personal_sign(eth, attacker, sid))
    assert v1_verify_eth_chain_signature(eth, sid, forged["synthientIdSignature"])
    assert not verify_chain_identity(sid, forged)
    # the same signature is fine for the attacker's own address
    own = identity(attacker.public_key.to_checksum_address(), forged["synthientIdSignature"])
    assert verify_chain_identity(sid, own)


# -- (c) a signature over another synthientId --------------------------------------------------


def test_signature_over_another_synthient_id_fails(eth):
    rng = random.Random(12)
    sid, other_sid = synthient_id(rng), synthient_id(rng)
    key = private_key(eth, 3)
    address = key.public_key.to_checksum_address()
    assert not verify_chain_identity(sid, identity(address, personal_sign(eth, key, other_sid)))
    # uppercase hex of the right id is different text, so a different message
    assert not verify_chain_identity(sid, identity(address, personal_sign(eth, key, sid.upper())))


# -- (d) malformed input -----------------------------------------------------------------------


def _not_on_curve_x() -> int:
    """Some r < N for which x^3 + 7 has no square root mod P, so nothing can be recovered."""
    x = 1
    while pow((x**3 + 7) % P, (P - 1) // 2, P) == 1:
        x += 1
    return x


def test_malformed_inputs_return_false(eth):
    sid = synthient_id(random.Random(13))
    key = private_key(eth, 4)
    address = key.public_key.to_checksum_address()
    good = personal_sign(eth, key, sid)
    r, s = good[2:66], good[66:130]
    bad_x = f"{_not_on_curve_x():064x}"
    bad_signatures = [
        good[2:],                     # no 0x
        good[:-2],                    # 64 bytes
        good + "00",                  # 66 bytes
        good[:-1] + "g",              # not hex
        "0x" + r + s + "1d",          # v = 29
        "0x" + r + s + "02",          # v = 2
        "0x" + r + s + "25",          # v = 37 (EIP-155 style, not for messages)
        "0x" + "00" * 32 + s + "1b",  # r = 0
        "0x" + r + "00" * 32 + "1b",  # s = 0
        "0x" + f"{N:064x}" + s + "1b",  # r = N
        "0x" + r + f"{N + 1:064x}" + "1b",  # s > N
        "0x" + bad_x + s + "1b",      # r is no x coordinate on the curve
        "", None, 12, b"\x00" * 65, ["0x"],
    ]
    for bad in bad_signatures:
        assert not verify_chain_identity(sid, identity(address, bad)), bad
    bad_addresses = [address[2:], address[:-1], address + "0", "0x" + "z" * 40, "", None, 1,
                     " " + address, address + "\n"]
    for bad in bad_addresses:
        assert not verify_chain_identity(sid, identity(bad, good)), bad
    for bad_sid in (sid.upper(), sid[:-1], sid + "0", "", None, 5, b"\x00" * 32):
        assert not verify_chain_identity(bad_sid, identity(address, good)), bad_sid
    for bad_identity in (None, [], "x", 1, {}, {"address": address},
                         {"synthientIdSignature": good}):
        assert not verify_chain_identity(sid, bad_identity)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(min_size=65, max_size=65), address=st.binary(min_size=20, max_size=20),
       sid=st.binary(min_size=32, max_size=32))
def test_random_signatures_never_raise(eth, raw, address, sid):
    signature = "0x" + raw[:64].hex() + f"{27 + raw[64] % 2:02x}"
    # A random 20-byte address equal to whatever the signature recovers is out of reach.
    assert verify_chain_identity(sid.hex(), identity("0x" + address.hex(), signature)) is False


@settings(max_examples=100, deadline=None)
@given(sid=st.one_of(st.none(), st.text(max_size=70), st.integers()),
       ident=st.one_of(st.none(), st.integers(), st.dictionaries(
           st.sampled_from(["chain", "address", "synthientIdSignature", "x"]),
           st.one_of(st.none(), st.text(max_size=140), st.integers(), st.lists(st.integers())))))
def test_arbitrary_values_never_raise(eth, sid, ident):
    assert verify_chain_identity(sid, ident) is False


# -- (e) wired into the peer table -------------------------------------------------------------


def test_peer_table_keeps_only_the_genuine_identity(eth):
    rng = random.Random(14)
    sid, other_sid = synthient_id(rng), synthient_id(rng)
    owner, attacker = private_key(eth, 5), private_key(eth, 6)
    owner_address = owner.public_key.to_checksum_address()
    victim_address = private_key(eth, 8).public_key.to_checksum_address()
    genuine = identity(owner_address, personal_sign(eth, owner, sid))
    forged = identity(victim_address, personal_sign(eth, attacker, sid))
    replayed = dict(identity(attacker.public_key.to_checksum_address(),
                             personal_sign(eth, attacker, other_sid)), chain="Polygon")
    malformed = identity("0xnope", "0x00")
    identities = [forged, genuine, replayed, malformed]

    table = PeerTable(identity_check=verify_chain_identity)
    table.observe(sid, "nostr", T0, "peerConnectedChain", {"identities": identities})
    assert table.to_record(sid)["chainIds"] == [genuine]

    # v1's check keeps the forged claim (and the malformed-address one it never reads)
    v1_table = PeerTable(identity_check=lambda s, ident: v1_verify_eth_chain_signature(
        eth, s, ident["synthientIdSignature"]))
    v1_table.observe(sid, "nostr", T0, "peerConnectedChain", {"identities": [forged, genuine]})
    v1_record = v1_table.to_record(sid)
    assert v1_record["chainIds"] == [forged, genuine]


# -- packages missing --------------------------------------------------------------------------


@pytest.fixture
def fresh_loader(monkeypatch):
    monkeypatch.setattr(chain_identity, "_recover", None)


def test_missing_eth_keys_is_a_clear_runtime_error(monkeypatch, fresh_loader):
    monkeypatch.setitem(sys.modules, "eth_keys", None)
    with pytest.raises(RuntimeError, match="eth-keys"):
        verify_chain_identity("0" * 64, {})
    assert chain_identity_available() is False


def test_missing_keccak_backend_is_a_clear_runtime_error(eth, monkeypatch, fresh_loader):
    def no_backend(data):
        raise ImportError("None of these hashing backends are installed")

    monkeypatch.setitem(sys.modules, "eth_hash.auto", types.SimpleNamespace(keccak=no_backend))
    with pytest.raises(RuntimeError, match="pycryptodome"):
        recover_address("0" * 64, "0x" + "00" * 65)


def test_available_when_installed(eth):
    assert chain_identity_available() is True
