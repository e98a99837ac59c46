"""`postflow certs create|show|rotate`: the mesh's CA and certificates (in mesh.certs_dir) as
the operator sees them; and `ensure_mesh_certs`, with which `postflow up` and `postflow demo`
create them on first start."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator

from postflow.cli.output import describe_certificate
from postflow.core.config import Config, load_config
from postflow.core.errors import FailedPrecondition, InvalidArgument
from postflow.core.mesh.audit import record_cli_action
from postflow.core.mesh.certs import (
    CA,
    EXPIRY_WARNING_DAYS,
    CertPaths,
    CertState,
    MeshError,
    certificate_states,
    ensure_certs,
    rotate,
)
from postflow.core.mesh.identity import ADMIN, IDENTITIES

FAILING = {CertState.EXPIRED, CertState.MISSING, CertState.INVALID}


def cmd_certs(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    paths = CertPaths(config.certs_path)
    if args.action == "create":
        return create(config, paths)
    if args.action == "show":
        return show(paths, args.json)
    return rotate_certs(config, paths, tuple(args.identities), args.ca)


def ensure_mesh_certs(config: Config) -> list[str]:
    """With mesh.mtls on, creates the CA and each identity's certificate that is missing;
    the names created (blocking: key generation and files)."""
    return create_missing(config, CertPaths(config.certs_path)) if config.mesh.mtls else []


def create_missing(config: Config, paths: CertPaths) -> list[str]:
    with named_errors(paths):
        created = ensure_certs(paths)
    if created:
        record_cli_action(config, "certs create", ", ".join(created))
    return created


@contextlib.contextmanager
def named_errors(paths: CertPaths) -> Iterator[None]:
    """Certificate and file errors as FailedPrecondition, naming the file."""
    try:
        yield
    except MeshError as exc:
        raise FailedPrecondition(str(exc)) from None
    except OSError as exc:
        raise FailedPrecondition(f"certificates directory {paths.dir}: {exc.filename or paths.dir}: "
                                 f"{exc.strerror}") from None


def create(config: Config, paths: CertPaths) -> int:
    created = create_missing(config, paths)
    if created:
        print(f"created in {paths.dir}: {', '.join(created)} (each a certificate and its key, mode 0600)")
    else:
        print(f"nothing to create: the CA and every certificate ({', '.join(IDENTITIES)}) are in {paths.dir}")
    return 0


def show(paths: CertPaths, as_json: bool) -> int:
    """Every certificate; exit 1 when one is expired, missing or unusable."""
    with named_errors(paths):
        statuses = certificate_states(paths, keys=True)
    entries = [status.to_dict() for status in statuses]
    if as_json:
        print(json.dumps({"certs_dir": str(paths.dir), "certificates": entries}, indent=2))
    else:
        print(f"certificates in {paths.dir} (flagged {EXPIRY_WARNING_DAYS} days before they expire)")
        print(f"{'identity':<10} {'state':<9} {'not after':<17} {'days':>5}  {'issuer':<9} sha256")
        for entry in entries:
            issuer = {True: "CA", False: "OTHER", None: "-"}[entry["issued_by_ca"]]
            state = entry["state"] if entry["state"] == "ok" else entry["state"].upper()
            when = (entry["not_after"] or "")[:16].replace("T", " ")
            days = "" if entry["days_left"] is None else entry["days_left"]
            print(f"{entry['identity']:<10} {state:<9} {when:<17} {days:>5}  {issuer:<9} {entry['fingerprint']}")
        for entry in entries:
            if entry["state"] != "ok":
                print(f"! {describe_certificate(entry)}")
    failing = [status for status in statuses if status.state in FAILING]
    if failing and not as_json:
        hint = ("postflow certs create" if all(s.state == CertState.MISSING for s in failing) else
                "postflow certs rotate --ca" if any(s.identity == CA for s in failing) else
                f"postflow certs rotate {' '.join(s.identity for s in failing)}")
        print(f"→ {hint}")
    return 1 if failing else 0


def rotate_certs(config: Config, paths: CertPaths, identities: tuple[str, ...], new_ca: bool) -> int:
    unknown = [name for name in identities if name not in IDENTITIES]
    if unknown:
        raise InvalidArgument(f"unknown identity {unknown[0]!r}: the identities are {', '.join(IDENTITIES)}")
    if new_ca and identities:
        raise InvalidArgument("--ca re-issues every certificate under a new CA: name no identity with it")
    if not new_ca and not paths.ca_key.exists():
        raise FailedPrecondition(f"the CA key {paths.ca_key} is missing, and re-issuing needs it: restore it, or "
                                 f"make a new CA with `postflow certs rotate --ca` (it re-issues every certificate)")
    chosen = tuple(dict.fromkeys(identities)) or IDENTITIES
    with named_errors(paths):
        rotate(paths, chosen, new_ca)
    record_cli_action(config, "certs rotate", "--ca" if new_ca else ", ".join(chosen))
    print(f"{'new CA; ' if new_ca else ''}re-issued {', '.join(chosen)} under the "
          f"{'new ' if new_ca else ''}CA in {paths.dir}")
    for line in restart_advice(chosen, new_ca):
        print(line)
    return 0


def restart_advice(identities: tuple[str, ...], new_ca: bool) -> list[str]:
    """What must restart to use the new certificates (services read theirs when they start)."""
    services = [name for name in identities if name != ADMIN]
    lines = []
    if services:
        lines.append(f"restart to use them: {', '.join(services)} (`postflow up`: stop and start it; compose: "
                     f"`docker compose up -d --force-recreate {' '.join(services)}`)")
    if new_ca:
        lines.append("until every service runs with the new certificates, they refuse each other: restart them all now")
    if ADMIN in identities:
        lines.append(f"the CLI uses the new {ADMIN} certificate from its next command")
    return lines
