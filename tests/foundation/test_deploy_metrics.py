"""The metrics overlay (docker-compose.metrics.yml), validated without a Docker engine: each
service serves /metrics where Prometheus scrapes it, every config, secret, network and volume
it names exists, Grafana is provisioned with the datasource its dashboard uses, and the
dashboard's panels and the alert rules are well formed and query documented metrics only
(tests/e2e/test_metrics.py checks them against what the running services export)."""

import json
import re
from pathlib import Path

import pytest
import yaml

from postflow.cli.supervisor import SERVICES
from postflow.core.config import load_config
from postflow.testing.metrics import ALERTS, DASHBOARD, metric_names, shipped_queries
from tests.foundation.test_deploy import ROOT, SWARM_DEPLOY_KEYS

SCRAPE_PORT = 9464


@pytest.fixture(scope="module")
def overlay():
    return yaml.safe_load((ROOT / "docker-compose.metrics.yml").read_text())


def mounted_configs(service: dict) -> dict[str, str]:
    """{target path in the container: config name}."""
    return {entry["target"]: entry["source"] for entry in service.get("configs", [])}


def test_each_service_serves_its_metrics_where_prometheus_scrapes_them(overlay):
    env = {}
    for name in SERVICES:
        environment = overlay["services"][name]["environment"]
        assert environment == {f"POSTFLOW__METRICS__{name.upper()}": f"0.0.0.0:{SCRAPE_PORT}"}, name
        env |= environment
    config = load_config(ROOT / "deploy" / "config.json", env=env)
    for name in SERVICES:
        assert getattr(config.metrics, name) == f"0.0.0.0:{SCRAPE_PORT}", name
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    targets = {group["labels"]["service"]: group["targets"] for group in job["static_configs"]}
    assert targets == {name: [f"{name}:{SCRAPE_PORT}"] for name in SERVICES}
    rules_in_container = {target for target, source in mounted_configs(overlay["services"]["prometheus"]).items()
                          if overlay["configs"][source]["file"] == "./deploy/prometheus/alerts.yml"}
    assert prometheus["rule_files"] == sorted(rules_in_container)


def test_every_config_secret_network_and_volume_named_exists(overlay):
    for name, spec in overlay["configs"].items():
        assert (ROOT / spec["file"]).is_file(), name
    assert (ROOT / overlay["secrets"]["grafana_admin_password"]["file"]).parent == ROOT / "secrets"
    networks = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["networks"]) | set(overlay["networks"])
    for name in ("prometheus", "grafana"):
        service = overlay["services"][name]
        assert set(mounted_configs(service).values()) <= set(overlay["configs"]), name
        assert set(service["networks"]) <= networks, name
        assert {volume.split(":")[0] for volume in service["volumes"]} <= set(overlay["volumes"]), name
        assert set(service["deploy"]) <= SWARM_DEPLOY_KEYS and service["deploy"]["replicas"] == 1, name
        assert service["ports"][0].startswith("127.0.0.1:"), f"{name} is published on loopback only"
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert "auth" in overlay["services"]["prometheus"]["networks"], "auth's port is reachable only on `auth`"
    assert overlay["services"]["grafana"]["networks"] == ["monitoring"]
    grafana = overlay["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert grafana["secrets"] == ["grafana_admin_password"]
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.metrics.yml").read_text()))
    defined = {line.split("=", 1)[0] for line in (ROOT / ".env").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used and used <= defined, used - defined


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard(overlay):
    configs = {target: overlay["configs"][source]["file"]
               for target, source in mounted_configs(overlay["services"]["grafana"]).items()}
    provisioning = "/etc/grafana/provisioning"
    [datasource_file] = [ROOT / f for t, f in configs.items() if t.startswith(f"{provisioning}/datasources/")]
    [providers_file] = [ROOT / f for t, f in configs.items() if t.startswith(f"{provisioning}/dashboards/")]
    [datasource] = yaml.safe_load(datasource_file.read_text())["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")
    [provider] = yaml.safe_load(providers_file.read_text())["providers"]
    dashboard_target = next(t for t, f in configs.items() if ROOT / f == DASHBOARD)
    assert provider["type"] == "file" and provider["options"]["path"] == str(Path(dashboard_target).parent)
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "postflow" and dashboard["title"] == "PostFlow"
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            for source in (panel["datasource"], *(target["datasource"] for target in panel["targets"])):
                assert source == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]


def test_the_alert_rules_cover_the_four_alerts_and_are_well_formed():
    [group] = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = {rule["alert"]: rule for rule in group["rules"]}
    assert set(rules) == {"PostFlowNoDelivery", "PostFlowFrameioLoginNeeded", "PostFlowTunnelDown",
                          "PostFlowReviewPollingStalled"}
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"], name
    assert "postflow_auth_state{state=\"reconnect_needed\"} == 1" in rules["PostFlowFrameioLoginNeeded"]["expr"]
    assert "2 * 86400" in rules["PostFlowFrameioLoginNeeded"]["expr"]
    assert rules["PostFlowTunnelDown"]["expr"].strip() == "postflow_tunnel_up == 0"
    assert rules["PostFlowReviewPollingStalled"]["expr"].strip() == (
        "time() - postflow_review_last_sweep_timestamp_seconds > 3600")


def test_every_query_is_balanced_and_uses_documented_metrics_only():
    readme = (ROOT / "README.md").read_text().split("## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(postflow_[a-z0-9_]+)`", readme, re.M))
    series = documented | {name + suffix for name in documented for suffix in ("_total", "_bucket", "_count", "_sum")}
    queries = shipped_queries()
    assert len(queries) >= 20
    for where, query in queries.items():
        assert metric_names(query), where
        assert metric_names(query) <= series, (where, metric_names(query) - series)
        for opening, closing in ("()", "{}", "[]"):
            assert query.count(opening) == query.count(closing), where
