"""The one table of who may call what: complete (every RPC of every service has its rule,
found from the generated descriptors, so a new RPC without one fails here), and read right."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import postflow.v1
from postflow.core.mesh.identity import ANONYMOUS, IDENTITIES, UNSECURED, Kind, Principal, Scope, certificate
from postflow.core.mesh.policy import AUDITED, RULES, Decision, decide


def every_method() -> dict[str, object]:
    """Full method name → the method's descriptor, for every service of our protos."""
    methods = {}
    for module in pkgutil.iter_modules(postflow.v1.__path__):
        if module.name.endswith("_pb2"):
            proto = importlib.import_module(f"postflow.v1.{module.name}")
            for service in proto.DESCRIPTOR.services_by_name.values():
                for method in service.methods:
                    methods[f"/{service.full_name}/{method.name}"] = method
    return methods


def test_every_rpc_of_every_service_has_a_rule():
    methods = every_method()
    assert len(methods) >= 19
    assert sorted(set(methods) - set(RULES)) == []
    assert sorted(set(RULES) - set(methods)) == []  # no rule for an RPC that is gone


def test_audited_calls_are_unary_and_record_fields_their_requests_have():
    methods = every_method()
    for method, fields in AUDITED.items():
        descriptor = methods[method]
        assert not descriptor.client_streaming and not descriptor.server_streaming, method
        assert set(fields) <= set(descriptor.input_type.fields_by_name), method
    assert "code" not in AUDITED["/postflow.v1.AuthService/CompleteAuthorization"]


TOKEN = "/postflow.v1.AuthService/GetAccessToken"
SUBMIT = "/postflow.v1.WatcherService/SubmitFile"
LIST = "/postflow.v1.WatcherService/ListJobs"
READER = Principal(Kind.API_KEY, "farm", frozenset({Scope.JOBS_READ}))


@pytest.mark.parametrize(("principal", "method", "decision"), [
    (certificate("watcher"), TOKEN, Decision.ALLOW),
    (certificate("dashboard"), TOKEN, Decision.DENY),
    (certificate("admin"), TOKEN, Decision.DENY),
    (ANONYMOUS, TOKEN, Decision.UNAUTHENTICATED),
    (ANONYMOUS, "/grpc.health.v1.Health/Check", Decision.ALLOW),
    (UNSECURED, TOKEN, Decision.ALLOW),
    (READER, LIST, Decision.ALLOW),
    (READER, SUBMIT, Decision.DENY),
    (certificate("streamer"), SUBMIT, Decision.DENY),
    (certificate("dashboard"), SUBMIT, Decision.ALLOW),
    (certificate("watcher"), "/postflow.v1.StreamerService/Push", Decision.ALLOW),
    (certificate("dashboard"), "/postflow.v1.StreamerService/Push", Decision.DENY),
    (certificate("admin"), "/postflow.v1.Nothing/Here", Decision.DENY),
])
def test_decisions(principal, method, decision):
    assert decide(principal, method) == decision


def readme_rows() -> dict[str, tuple[set[str], set[str], bool]]:
    """The README's copy of the table: full method → (certificates, scopes, audited)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Who may call what", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith("`"):
            continue
        service, method, identities, scopes, audited = cells
        names = set(IDENTITIES) if identities == "any" else {name.strip() for name in identities.split(",")}
        granted = set() if scopes == "—" else {scope.strip() for scope in scopes.split(",")}
        rows[f"/postflow.v1.{service}/{method.strip('`')}"] = (names, granted, audited.startswith("yes"))
    return rows


def test_the_readme_shows_the_table_as_it_is():
    in_code = {method: (set(rule.identities), {scope.value for scope in rule.scopes}, method in AUDITED)
               for method, rule in RULES.items()}
    assert readme_rows() == in_code
