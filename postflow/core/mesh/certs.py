"""The mesh's certificates: a private CA and one certificate per identity, files in one
directory (`mesh.certs_dir`, default `<state_dir>/certs`), every one mode 0600:

    ca.pem  ca.key  <identity>.pem  <identity>.key   (identity: auth, watcher, … admin)

A certificate names its identity as its common name and its one DNS name: clients check a
service's certificate against the service's name, whatever address they dial. Keys are
EC P-256. Blocking (file I/O, key generation): call from a thread or a command."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postflow.core.files import write_private
from postflow.core.mesh.identity import IDENTITIES

CA_NAME = "PostFlow mesh CA"
CA_DAYS = 10 * 365
LEAF_DAYS = 397
EXPIRY_WARNING_DAYS = 30


class MeshError(Exception):
    """Certificates missing or unusable; the message names the file and what to do."""


@dataclass(frozen=True)
class CertPaths:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    def cert(self, identity: str) -> Path:
        return self.dir / f"{identity}.pem"

    def key(self, identity: str) -> Path:
        return self.dir / f"{identity}.key"


@dataclass(frozen=True)
class Credentials:
    """What one identity needs to take part in the mesh (PEM bytes)."""

    identity: str
    cert: bytes
    key: bytes
    ca: bytes


def load_credentials(paths: CertPaths, identity: str) -> Credentials:
    files = (paths.cert(identity), paths.key(identity), paths.ca)
    try:
        cert, key, ca = (path.read_bytes() for path in files)
    except OSError as exc:
        raise MeshError(f"mesh certificate for {identity}: {exc.filename}: {exc.strerror} "
                        f"(create them with `postflow certs create`)") from None
    return Credentials(identity, cert, key, ca)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PostFlow"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(paths: CertPaths, days: int = CA_DAYS) -> None:
    key = _new_key()
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(paths.ca_key, _key_pem(key))
    write_private(paths.ca, _cert_pem(cert))


def issue(paths: CertPaths, identity: str, days: int = LEAF_DAYS,
          not_before: dt.datetime | None = None) -> None:
    """Issues `identity` a new key and certificate, signed by the CA in `paths`."""
    try:
        ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    except OSError as exc:
        raise MeshError(f"mesh CA: {exc.filename}: {exc.strerror} (create it with `postflow certs create`)") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise MeshError(f"mesh CA: {paths.ca_key} is not an EC private key")
    key = _new_key()
    start = not_before or _now() - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(_name(identity)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(identity)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(paths.key(identity), _key_pem(key))
    write_private(paths.cert(identity), _cert_pem(cert))


def ensure_certs(paths: CertPaths, identities: tuple[str, ...] = IDENTITIES) -> list[str]:
    """Creates the CA and any identity's certificate that is missing; the names created."""
    created = []
    if not paths.ca.exists():
        create_ca(paths)
        created.append("ca")
    for identity in identities:
        if not (paths.cert(identity).exists() and paths.key(identity).exists()):
            issue(paths, identity)
            created.append(identity)
    return created


def not_after(pem: bytes) -> dt.datetime:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""
