"""The dashboard's HTTPS certificate (`postflow.core.config.dashboard_tls` says whether there is
one): the configured `dashboard.tls_cert` / `dashboard.tls_key`, checked file by file, or a
self-signed one kept in `<state_dir>/dashboard/` (key mode 0600), reused across restarts and
made again when it is missing, unreadable, about to expire, or does not name a host the
dashboard is reached by."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from postflow.core.asgi import tls_context
from postflow.core.config import Config, ConfigError, dashboard_tls, redirect_reaches_dashboard, split_address
from postflow.core.files import write_private
from postflow.core.net import WILDCARDS

log = logging.getLogger(__name__)

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
VALIDITY = dt.timedelta(days=397)  # what browsers accept for a trusted server certificate
RENEW_BEFORE = dt.timedelta(days=30)  # made again at a start this close to its expiry
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PostFlow dashboard (self-signed)")])

Loaded = TypeVar("Loaded")


@dataclass(frozen=True)
class ServedTls:
    """What the dashboard serves HTTPS with: the context, and the certificate file it holds."""

    context: ssl.SSLContext
    cert: Path
    self_signed: bool


async def served_tls(config: Config, listen: str) -> ServedTls | None:
    """The TLS the dashboard on `listen` serves, None for plain HTTP; ConfigError naming the
    key when the configured files are bad or the self-signed pair cannot be written."""
    mode = dashboard_tls(config, listen)
    if mode == "off":
        return None
    if mode == "files":
        context = await asyncio.to_thread(load_configured, config)
        return ServedTls(context, Path(config.dashboard.tls_cert), self_signed=False)
    directory = config.state_path / "dashboard"
    context = await asyncio.to_thread(self_signed, directory, certificate_names(config, listen))
    return ServedTls(context, directory / CERT_FILE, self_signed=True)


# -- the configured certificate ----------------------------------------------------------------

def load_configured(config: Config) -> ssl.SSLContext:
    """A context serving dashboard.tls_cert and dashboard.tls_key; ConfigError naming the key
    whose file is bad."""
    cert_path = Path(config.dashboard.tls_cert).expanduser()
    key_path = Path(config.dashboard.tls_key).expanduser()
    certificate = read_pem("dashboard.tls_cert", cert_path, "a PEM certificate",
                           lambda data: x509.load_pem_x509_certificates(data)[0])
    key = read_pem("dashboard.tls_key", key_path, "an unencrypted PEM private key",
                   lambda data: serialization.load_pem_private_key(data, password=None))
    if public_der(certificate.public_key()) != public_der(key.public_key()):
        raise ConfigError(f"dashboard.tls_key: {key_path} is not the private key of the certificate in "
                          f"dashboard.tls_cert ({cert_path})")
    if certificate.not_valid_after_utc < dt.datetime.now(dt.UTC):
        log.warning("dashboard.tls_cert: %s expired on %s; browsers will refuse it", cert_path,
                    certificate.not_valid_after_utc.date())
    try:
        return tls_context(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"dashboard.tls_cert: {cert_path} with {key_path} cannot serve TLS: {exc}") from None


def read_pem(key: str, path: Path, what: str, load: Callable[[bytes], Loaded]) -> Loaded:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    try:
        return load(data)
    except (ValueError, TypeError, IndexError):  # TypeError: an encrypted key
        raise ConfigError(f"{key}: {path} does not hold {what}") from None


def public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- the self-signed certificate ---------------------------------------------------------------

def certificate_names(config: Config, listen: str) -> list[str]:
    """The names a self-signed certificate must hold: the loopback ones, the host the
    dashboard listens on, and the host of a redirect URI that comes to it."""
    host, _ = split_address(listen, "dashboard.listen")
    redirect_host = urlsplit(config.frameio.redirect_uri).hostname or ""
    extra = [host] if host not in WILDCARDS else []
    extra += [redirect_host] if redirect_host and redirect_reaches_dashboard(config, listen) else []
    names = [normal(name) for name in LOOPBACK_NAMES]
    return names + [name for name in dict.fromkeys(map(normal, extra)) if name not in names]


def normal(name: str) -> str:
    """One spelling per name: IP addresses compressed, host names lower case."""
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name.lower()


def self_signed(directory: Path, names: list[str], now: dt.datetime | None = None) -> ssl.SSLContext:
    """A context serving the certificate in `directory`, made (again) when there is no usable one."""
    now = now or dt.datetime.now(dt.UTC)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    context = reusable(cert_path, key_path, names, now)
    if context is not None:
        return context
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_pem, cert_pem = make_self_signed(names, now)
        write_private(key_path, key_pem)  # the key first: a crash in between leaves a pair that does not match
        write_private(cert_path, cert_pem)
    except OSError as exc:
        raise ConfigError(f"dashboard.tls: cannot write a self-signed certificate into {directory} "
                          f"(under state_dir): {exc.strerror}") from None
    log.info("dashboard: made a self-signed certificate for %s, valid until %s: %s", ", ".join(names),
             (now + VALIDITY).date(), cert_path)
    return tls_context(cert_path, key_path)


def reusable(cert_path: Path, key_path: Path, names: Iterable[str], now: dt.datetime) -> ssl.SSLContext | None:
    """The context of the pair already there, unless it must be made again (the reason is logged)."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("dashboard: the self-signed certificate %s is unreadable (%s); making a new one", cert_path, exc)
        return None
    missing = set(names) - certificate_holds(certificate)
    if missing:
        log.info("dashboard: the self-signed certificate does not name %s; making a new one",
                 ", ".join(sorted(missing)))
        return None
    if certificate.not_valid_after_utc - RENEW_BEFORE < now:
        log.info("dashboard: the self-signed certificate expires on %s; making a new one",
                 certificate.not_valid_after_utc.date())
        return None
    try:
        return tls_context(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        log.warning("dashboard: the self-signed certificate's key %s is unusable (%s); making a new pair",
                    key_path, exc)
        return None


def certificate_holds(certificate: x509.Certificate) -> set[str]:
    """The names in the certificate's subject alternative names."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {*sans.get_values_for_type(x509.DNSName), *map(str, sans.get_values_for_type(x509.IPAddress))}


def make_self_signed(names: list[str], now: dt.datetime) -> tuple[str, str]:
    """A new EC P-256 key and a certificate for `names` signed by it, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT).issuer_name(SUBJECT).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)  # 5 min: clock skew
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem.decode(), certificate.public_bytes(serialization.Encoding.PEM).decode()
