"""docker-compose.yml, its tracing overlay and the Dockerfile, validated without a Docker
engine: every service, healthcheck, secret, mount and swarm `deploy` section, the commands
compose runs are exactly those `postflow up` runs, each service's mesh certificate and key
as secrets where mesh.certs_dir points, the watcher's published API port, and networks that
keep cloudflared away from auth."""

import asyncio
import re
import sys
from pathlib import Path

import pytest
import yaml

from postflow.cli.certs import ensure_mesh_certs
from postflow.cli.supervisor import SERVICES, service_command
from postflow.core.config import dashboard_tls, dashboard_url, load_config, split_address
from postflow.core.mesh.certs import CertPaths
from postflow.core.mesh.identity import ADMIN, IDENTITIES
from postflow.core.rpc import GrpcServer

ROOT = Path(__file__).resolve().parents[2]
CONFIG_IN_CONTAINER = "/etc/postflow/config.json"
SECRETS_IN_CONTAINER = "/run/secrets"
KEY_OWNER = {"uid": "10001", "gid": "10001", "mode": "0o400"}  # the image's user; swarm honours it
SWARM_DEPLOY_KEYS = {"mode", "replicas", "restart_policy", "update_config", "rollback_config", "resources",
                     "placement", "labels", "endpoint_mode"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def overlay():
    return yaml.safe_load((ROOT / "docker-compose.otel.yml").read_text())


@pytest.fixture(scope="module")
def deploy_config():
    return load_config(ROOT / "deploy" / "config.json", env={})


def test_the_default_redirect_uri_comes_to_a_tls_dashboard(compose, deploy_config):
    """The shipped redirect URI is https on the dashboard's published port, so the dashboard serves
    HTTPS there (self-signed, kept in its state volume) and the first real login lands on TLS."""
    assert deploy_config.frameio.redirect_uri == "https://localhost:8000/auth/callback"
    assert dashboard_tls(deploy_config) == "self-signed"
    assert dashboard_url(deploy_config) == "https://127.0.0.1:8000"
    assert compose["services"]["dashboard"]["ports"] == ["${DASHBOARD_PORT:-8000}:8000"]
    assert "dashboard-state:/var/lib/postflow" in compose["services"]["dashboard"]["volumes"]


def test_every_service_is_defined(compose):
    assert set(SERVICES) | {"cli", "cloudflared", "cloudflared-named"} == set(compose["services"])


def test_compose_runs_exactly_what_postflow_up_runs(compose):
    for name in SERVICES:
        service = compose["services"][name]
        assert service["entrypoint"] == ["python"]
        assert service["command"] == service_command(name, CONFIG_IN_CONTAINER)
        assert {"source": "postflow_config", "target": CONFIG_IN_CONTAINER} in service["configs"]
    assert compose["configs"]["postflow_config"]["file"] == "./deploy/config.json"


def test_healthchecks_call_the_grpc_health_rpc_on_the_configured_ports(compose, deploy_config):
    for name in ("auth", "watcher", "streamer"):
        test = compose["services"][name]["healthcheck"]["test"]
        _, port = split_address(getattr(deploy_config.services, name), name)
        assert test == ["CMD", "python", "-m", "postflow.healthcheck", f"localhost:{port}"]
    assert compose["services"]["dashboard"]["healthcheck"]["test"] == [
        "CMD", "python", "-m", "postflow.healthcheck", "--dashboard", "-c", CONFIG_IN_CONTAINER]
    for name in ("cloudflared", "cloudflared-named"):
        assert compose["services"][name]["healthcheck"]["test"][1:3] == ["cloudflared", "tunnel"]


def test_depends_on_waits_for_healthy_services(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert spec == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency], dependency
    assert set(services["watcher"]["depends_on"]) == {"auth", "streamer"}
    assert set(services["dashboard"]["depends_on"]) == {"auth", "watcher", "streamer"}


def test_secrets_are_files_read_through_FILE_variables(compose):
    declared = compose["secrets"]
    assert set(declared) == {"frameio_client_secret", "postflow_token_key", "dashboard_access_token",
                             "cloudflared_token", "mesh_ca", *(f"mesh_{identity}_{part}" for identity in IDENTITIES
                                                               for part in ("cert", "key"))}
    for name, service in compose["services"].items():
        assert set(mounted_secrets(service)) <= set(declared), name
        mounted = {target for target, _ in mounted_secrets(service).values()}
        for key, value in (service.get("environment") or {}).items():
            assert "SECRET=" not in f"{key}=" and "TOKEN=" not in f"{key}=", f"{name}: {key} must use *_FILE"
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/") and value.rsplit("/", 1)[1] in mounted, (name, key)
    assert compose["services"]["auth"]["secrets"][:2] == ["frameio_client_secret", "postflow_token_key"]
    assert "--token-file" in compose["services"]["cloudflared-named"]["command"]
    for name in ("watcher", "streamer", "dashboard"):
        assert "frameio_client_secret" not in compose["services"][name].get("secrets", []), "only auth holds it"


def mounted_secrets(service: dict) -> dict[str, tuple[str, dict]]:
    """{secret: (its file name in /run/secrets, the rest of its long syntax)}."""
    entries = [{"source": entry} if isinstance(entry, str) else entry for entry in service.get("secrets", [])]
    return {entry["source"]: (entry.get("target", entry["source"]),
                              {k: str(v) for k, v in entry.items() if k not in ("source", "target")})
            for entry in entries}


def test_each_service_gets_its_certificate_and_key_and_the_ca_as_secrets(compose, deploy_config):
    """Where the service reads them: mesh.certs_dir is /run/secrets, the targets are the names
    CertPaths gives. Only its own key, readable by the image's user; no one gets the CA key."""
    assert deploy_config.mesh.mtls and deploy_config.certs_path == Path(SECRETS_IN_CONTAINER)
    names = CertPaths(Path(SECRETS_IN_CONTAINER))
    for name, identity in [*((service, service) for service in SERVICES), ("cli", ADMIN)]:
        secrets = mounted_secrets(compose["services"][name])
        assert secrets["mesh_ca"] == (names.ca.name, {}), name
        assert secrets[f"mesh_{identity}_cert"] == (names.cert(identity).name, {}), name
        assert secrets[f"mesh_{identity}_key"] == (names.key(identity).name, KEY_OWNER), name
        keys = {secret for secret in secrets if secret.startswith("mesh_") and secret.endswith("_key")}
        assert keys == {f"mesh_{identity}_key"}, f"{name} holds another identity's key"
    for name in ("dashboard", "cli"):  # the expiry banner, `postflow status`
        shown = {target for target, _ in mounted_secrets(compose["services"][name]).values()}
        assert {names.ca.name, *(names.cert(identity).name for identity in IDENTITIES)} <= shown, name
    assert not any(path["file"].endswith(names.ca_key.name) for path in compose["secrets"].values())


def test_postflow_certs_create_writes_the_files_compose_reads(compose, tmp_path):
    """`POSTFLOW__MESH__CERTS_DIR=secrets/mesh postflow certs create` (run next to the compose
    file) makes every mesh secret's file, and each is the identity's own."""
    env = {"POSTFLOW__MESH__CERTS_DIR": str(tmp_path / "secrets" / "mesh")}
    config = load_config(ROOT / "deploy" / "config.json", env=env)
    assert ensure_mesh_certs(config) == ["ca", *IDENTITIES]
    files = {name: spec["file"] for name, spec in compose["secrets"].items() if name.startswith("mesh_")}
    for name, file in files.items():
        assert file.startswith("./secrets/mesh/") and (tmp_path / file).is_file(), name
    certs = CertPaths(tmp_path / "secrets" / "mesh")
    assert files["mesh_ca"] == f"./secrets/mesh/{certs.ca.name}"
    for identity in IDENTITIES:
        assert files[f"mesh_{identity}_cert"] == f"./secrets/mesh/{certs.cert(identity).name}"
        assert files[f"mesh_{identity}_key"] == f"./secrets/mesh/{certs.key(identity).name}"


def test_the_watchers_job_api_port_is_published(compose, deploy_config):
    host, port = split_address(deploy_config.mesh.api_listen, "mesh.api_listen")
    assert host == "0.0.0.0" and port == 50054
    assert compose["services"]["watcher"]["ports"] == [f"${{WATCHER_API_PORT:-{port}}}:{port}"]
    assert "WATCHER_API_PORT=50054" in (ROOT / ".env").read_text().splitlines()


def test_cloudflared_shares_no_network_with_auth(compose, overlay):
    """auth's gRPC port is on the internal `auth` network, shared only with those that call
    it; auth reaches Adobe IMS on a network of its own; cloudflared is with the streamer alone."""
    members: dict[str, set[str]] = {}
    for file in (compose, overlay):
        for name, service in file["services"].items():
            if "image" in service or "<<" in service:
                assert service.get("networks"), f"{name} would join the default network, with everyone"
                for network in service["networks"]:
                    members.setdefault(network, set()).add(name)
    assert set(members) == set(compose["networks"])
    assert members["auth"] == {"auth", "watcher", "dashboard", "cli", "otel-collector"}
    assert compose["networks"]["auth"] == {"internal": True}
    assert members["auth-egress"] == {"auth"}
    assert members["tunnel"] == {"streamer", "cloudflared", "cloudflared-named"}
    for name in ("cloudflared", "cloudflared-named"):
        assert compose["services"][name]["networks"] == ["tunnel"]
        assert not set(compose["services"][name]["networks"]) & set(compose["services"]["auth"]["networks"])


def test_watch_folder_is_mounted_read_only_where_needed(compose, deploy_config):
    for name in ("watcher", "streamer"):
        mounts = [v for v in compose["services"][name]["volumes"] if isinstance(v, dict)]
        assert mounts == [{"type": "bind", "source": "${POSTFLOW_WATCH_DIR:-./media/OUT}",
                           "target": deploy_config.watch.root, "read_only": True}]
    for name in ("auth", "dashboard"):
        assert not any(isinstance(v, dict) for v in compose["services"][name]["volumes"])


def test_state_lives_in_named_volumes(compose, deploy_config):
    for name in SERVICES:
        volume = compose["services"][name]["volumes"][0]
        source, target = volume.split(":")
        assert source in compose["volumes"] and target == deploy_config.state_dir


def test_deploy_sections_are_valid_for_swarm(compose, overlay):
    for file in (compose, overlay):
        for name, service in file["services"].items():
            if "image" not in service and "<<" not in service and name in SERVICES:
                continue  # overlay entries only add environment
            deploy = service["deploy"]
            assert set(deploy) <= SWARM_DEPLOY_KEYS, name
            assert deploy["replicas"] == 1
            assert deploy["restart_policy"]["condition"] in ("none", "on-failure", "any")


def test_env_file_defines_every_variable_compose_uses(compose):
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "docker-compose.otel.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    defined = {line.split("=", 1)[0] for line in (ROOT / ".env").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= defined, used - defined
    assert "COMPOSE_PROFILES" in defined
    assert compose["services"]["cloudflared"]["profiles"] == ["quick"]
    assert compose["services"]["cloudflared-named"]["profiles"] == ["named"]


def test_deploy_config_points_the_streamer_at_the_cloudflared_container(compose, deploy_config):
    tunnel = deploy_config.streamer.tunnel
    assert tunnel.cloudflared == "" and tunnel.metrics == "cloudflared:2000"
    command = compose["services"]["cloudflared"]["command"]
    assert command[command.index("--metrics") + 1] == "0.0.0.0:2000"
    _, port = split_address(deploy_config.streamer.listen, "streamer.listen")
    assert command[command.index("--url") + 1] == f"http://streamer:{port}"
    for name in ("auth", "watcher", "streamer"):
        assert getattr(deploy_config.services, name).startswith(f"{name}:")


def test_tracing_overlay_adds_collector_and_jaeger(overlay):
    services = overlay["services"]
    assert {"otel-collector", "jaeger"} <= set(services)
    for name in SERVICES:
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert overlay["configs"]["otel_collector_config"]["file"] == "./deploy/otel-collector.yaml"


def test_dockerfile_is_slim_non_root_and_pinned():
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    assert re.search(r"^USER postflow$", text, re.M)
    assert "--constraint constraints.txt" in text
    assert 'ENTRYPOINT ["python"]' in text
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins)
    pinned = {line.split("==")[0].lower() for line in pins}
    assert {"grpcio", "frameio", "starlette", "uvicorn", "httpx", "cryptography", "authlib"} <= pinned


@pytest.mark.asyncio
async def test_healthcheck_command_follows_grpc_health(tmp_path):
    server = GrpcServer()
    port = await server.start("127.0.0.1:0")

    async def run(*args):  # the server shares this event loop: never block it
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "postflow.healthcheck", *args, stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        return process.returncode, out.decode().strip()

    try:
        assert await run(f"127.0.0.1:{port}") == (1, "NOT_SERVING")
        await server.set_serving(True)
        assert await run(f"127.0.0.1:{port}") == (0, "SERVING")
    finally:
        await server.stop(0)
    assert await run(f"127.0.0.1:{port}") == (1, "UNREACHABLE")
