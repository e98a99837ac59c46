"""The mesh's certificates: a private CA and one certificate per identity, files in one
directory (`mesh.certs_dir`, default `<state_dir>/certs`, mode 0700), every one mode 0600:

    ca.pem  ca.key  <identity>.pem  <identity>.key   (identity: auth, watcher, … admin)

`certificate_states` tells how each stands (expiry, fingerprint, issuer) from the public
.pem files only: for `postflow certs show`, `postflow status` and the dashboard.

A certificate names its identity as its common name and its one DNS name: clients check a
service's certificate against the service's name, whatever address they dial. Keys are
EC P-256. Blocking (file I/O, key generation): call from a thread or a command."""

from __future__ import annotations

import datetime as dt
import enum
import os
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postflow.core.files import write_private
from postflow.core.mesh.identity import IDENTITIES

CA = "ca"  # the CA's name where certificates are listed
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

    def make_dir(self) -> None:
        """The directory, mode 0700 (it holds private keys)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)


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
        raise MeshError(f"mesh CA: {exc.filename}: {exc.strerror} (`postflow certs create` makes a CA where there is "
                        f"none; `postflow certs rotate --ca` replaces one whose key is lost)") from None
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
    paths.make_dir()
    if not paths.ca.exists():
        create_ca(paths)
        created.append("ca")
    for identity in identities:
        if not (paths.cert(identity).exists() and paths.key(identity).exists()):
            issue(paths, identity)
            created.append(identity)
    return created


def rotate(paths: CertPaths, identities: tuple[str, ...] = IDENTITIES, new_ca: bool = False) -> None:
    """Re-issues `identities` under the CA in `paths`; with `new_ca`, under a new CA (the old
    one's certificates are no longer trusted: re-issue every identity)."""
    paths.make_dir()
    if new_ca:
        create_ca(paths)
    for identity in identities:
        issue(paths, identity)


class CertState(enum.StrEnum):
    OK = "ok"
    EXPIRING = "expiring"  # within EXPIRY_WARNING_DAYS
    EXPIRED = "expired"
    MISSING = "missing"
    INVALID = "invalid"  # unreadable, not a certificate, another identity's, or not issued by the CA


@dataclass(frozen=True)
class CertStatus:
    """One certificate as the operator sees it (`postflow certs show`, status, dashboard)."""

    identity: str  # CA or one of IDENTITIES
    state: CertState
    not_after: dt.datetime | None = None
    days_left: int | None = None
    fingerprint: str = ""  # SHA-256 of the DER, hex pairs
    issued_by_ca: bool | None = None  # None: the CA itself, or nothing to check
    problem: str = ""  # what is wrong, for missing and invalid

    def to_dict(self) -> dict:
        return {"identity": self.identity, "state": str(self.state),
                "not_after": self.not_after.isoformat().replace("+00:00", "Z") if self.not_after else None,
                "days_left": self.days_left, "fingerprint": self.fingerprint, "issued_by_ca": self.issued_by_ca,
                "problem": self.problem}


def certificate_states(paths: CertPaths, identities: tuple[str, ...] = IDENTITIES, *, keys: bool = False,
                       now: dt.datetime | None = None) -> list[CertStatus]:
    """The CA's certificate and each identity's, read from the public .pem files only; with
    `keys`, an identity whose private key file is absent counts as missing (its content is
    never read)."""
    now = now or _now()
    ca_cert, ca_status = _state_of(paths.ca, CA, now)
    statuses = [ca_status]
    for identity in identities:
        cert, status = _state_of(paths.cert(identity), identity, now)
        if cert is not None and ca_cert is not None:
            status = replace(status, issued_by_ca=_issued_by(cert, ca_cert))
        if cert is not None and common_name(cert) != identity:
            status = replace(status, state=CertState.INVALID,
                             problem=f"{paths.cert(identity)} is {common_name(cert)!r}'s certificate")
        elif status.issued_by_ca is False:
            status = replace(status, state=CertState.INVALID, problem=f"not issued by the CA in {paths.ca}")
        if keys and status.state != CertState.MISSING and not paths.key(identity).exists():
            status = replace(status, state=CertState.MISSING, problem=f"{paths.key(identity)} missing")
        statuses.append(status)
    return statuses


def certificate_report(paths: CertPaths) -> list[dict]:
    """What `postflow status` and the dashboard show: each certificate's state, from the public
    files only."""
    return [status.to_dict() for status in certificate_states(paths)]


def _state_of(path: Path, identity: str, now: dt.datetime) -> tuple[x509.Certificate | None, CertStatus]:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None, CertStatus(identity, CertState.MISSING, problem=f"{path} missing")
    except OSError as exc:
        return None, CertStatus(identity, CertState.INVALID, problem=f"{path}: {exc.strerror}")
    except ValueError:
        return None, CertStatus(identity, CertState.INVALID, problem=f"{path} is not a PEM certificate")
    end = cert.not_valid_after_utc
    left = end - now
    state = (CertState.EXPIRED if left <= dt.timedelta(0) else
             CertState.EXPIRING if left <= dt.timedelta(days=EXPIRY_WARNING_DAYS) else CertState.OK)
    return cert, CertStatus(identity, state, end, left // dt.timedelta(days=1),
                            cert.fingerprint(hashes.SHA256()).hex(":").upper())


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def not_after(pem: bytes) -> dt.datetime:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""
