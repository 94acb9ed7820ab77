"""The certificate of `rakis serve --tls`: given (--cert/--key) or self-signed on first use.

A page opened over plain http from another machine is not a secure context (no crypto.subtle, so
no identity, no Trystero, no Ed25519). https fixes that; on a LAN there is no public name to get a
real certificate for, so we make one for every name and address this machine may be reached by,
keep it in a state dir (reused while it still covers them) and print its SHA-256 fingerprint so the
user can check what the browser warns about once."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TLS_DIR = Path.home() / ".cache" / "rakis" / "tls"
CERT_FILE, KEY_FILE = "cert.pem", "key.pem"
VALID_DAYS = 825  # the longest validity browsers accept for a leaf certificate
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    fingerprint: str          # SHA-256 of the DER certificate, "AB:CD:..."
    names: tuple[str, ...]    # its subjectAltName entries (DNS names and IP addresses)
    generated: bool           # made by this run (False: given or reused)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def local_names(host: str | None = None, lan: str | None = None) -> list[str]:
    """Names and addresses a browser may use to reach this machine: the bound --host (unless a
    wildcard), the hostname (and its .local mDNS name), the LAN address, localhost and loopback."""
    names: list[str] = []

    def add(n: str | None) -> None:
        if n and n not in names and n not in ("0.0.0.0", "::"):
            names.append(n)

    add(host)
    hostname = socket.gethostname()
    add(hostname)
    if hostname and "." not in hostname:
        add(hostname + ".local")
    add(lan)
    try:
        for info in socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM):
            add(info[4][0])
    except OSError:
        pass
    for n in ("localhost", "127.0.0.1", "::1"):
        add(n)
    return names


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the (first) certificate in DER, as browsers show it: "AB:CD:..."."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _san_names(cert_pem: bytes) -> tuple[str, ...]:
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple([*san.get_values_for_type(x509.DNSName),
                  *(str(a) for a in san.get_values_for_type(x509.IPAddress))])


def _still_valid(cert_pem: bytes) -> bool:
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.timezone.utc)


def generate(names: list[str], valid_days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM): a self-signed P-256 leaf certificate for `names`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rakis serve ({names[0]})"[:64])])
    san = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=valid_days))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            # A leaf, not a CA: Firefox only lets users accept an exception for a leaf.
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed(tls_dir: Path, names: list[str]) -> Certificate:
    """The certificate in `tls_dir` if it still covers `names` and is not about to expire, else a
    new one written there (the key readable by this user only)."""
    tls_dir = Path(tls_dir)
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        pem = cert_path.read_bytes()
        try:
            have = _san_names(pem)
            if set(names) <= set(have) and _still_valid(pem):
                return Certificate(cert_path, key_path, fingerprint(pem), have, False)
        except ValueError:
            pass  # unreadable: replaced below
    cert_pem, key_pem = generate(names)
    tls_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert_pem)
    return Certificate(cert_path, key_path, fingerprint(cert_pem), tuple(names), True)


def given(cert: Path, key: Path) -> Certificate:
    """A certificate the user brings (--cert/--key); loading it once checks that the pair matches."""
    pem = Path(cert).read_bytes()
    c = Certificate(Path(cert), Path(key), fingerprint(pem), _san_names(pem), False)
    c.ssl_context()
    return c
