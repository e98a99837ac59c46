"""A service's `/metrics` as tests read it: scraped over HTTP, parsed with prometheus_client's
own text parser (so the format is checked too), one sample or a sum of samples by labels; and
the queries of the shipped Grafana dashboard and alert rules, with the metrics they use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from postflow.testing.processes import CHECKOUT

DASHBOARD = CHECKOUT / "deploy" / "grafana" / "postflow.json"
ALERTS = CHECKOUT / "deploy" / "prometheus" / "alerts.yml"
METRIC_NAME = re.compile(r"\bpostflow_[a-z0-9_]+")

SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",),
            "stateset": ("",), "unknown": ("",)}


@dataclass(frozen=True)
class Scrape:
    types: dict[str, str]  # family name → type
    samples: list[Sample]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families = list(text_string_to_metric_families(text))
        return cls({family.name: family.type for family in families},
                   [sample for family in families for sample in family.samples])

    def value(self, name: str, **labels: str) -> float | None:
        """The sample `name` with exactly these labels, if there is one."""
        return next((sample.value for sample in self.samples if sample.name == name and sample.labels == labels),
                    None)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples `name` whose labels include these."""
        return sum(sample.value for sample in self.samples
                   if sample.name == name and labels.items() <= sample.labels.items())

    def series_names(self) -> set[str]:
        """Every series name a query could use: each family's, with the suffixes of its type,
        whether or not it has samples yet."""
        return {family + suffix for family, kind in self.types.items() for suffix in SUFFIXES[kind]}


async def scrape(address: str) -> Scrape:
    """GET http://ADDRESS/metrics (ADDRESS: HOST:PORT), parsed."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://{address}/metrics")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain"), response.headers["content-type"]
    return Scrape.parse(response.text)


def shipped_queries() -> dict[str, str]:
    """Every PromQL query shipped in deploy/: the dashboard's panel targets and template
    variables, and the alert rules' expressions, by where they are."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = {f"panel {panel['title']!r} {target['refId']}": target["expr"]
               for panel in dashboard["panels"] for target in panel.get("targets", [])}
    queries |= {f"variable {variable['name']}": variable["definition"] for variable in dashboard["templating"]["list"]}
    rules = yaml.safe_load(ALERTS.read_text())
    queries |= {f"alert {rule['alert']}": rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    return queries


def metric_names(query: str) -> set[str]:
    return set(METRIC_NAME.findall(query))
