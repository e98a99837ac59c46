"""Where the services serve their metrics under `postflow up`: a free loopback port for each
left empty (or at port 0), handed to the children as POSTFLOW__METRICS__<SERVICE>; `postflow
status` lists the running set's from <state_dir>/run/metrics.json, else the configured ones."""

import io
import json

from postflow.cli import output
from postflow.cli.commands import served_metrics
from postflow.cli.supervisor import SERVICES, Supervisor, metrics_addresses
from postflow.core.config import build_config, load_config, split_address


def test_empty_addresses_get_free_loopback_ports_that_reach_the_children(tmp_path):
    config = build_config({"metrics": {"watcher": "0.0.0.0:9464", "auth": "127.0.0.1:0"},
                           "state_dir": str(tmp_path)})
    addresses = metrics_addresses(config)
    assert set(addresses) == set(SERVICES) and addresses["watcher"] == "0.0.0.0:9464"
    picked = [split_address(addresses[name], name) for name in ("auth", "streamer", "dashboard")]
    assert all(host == "127.0.0.1" and port > 0 for host, port in picked)
    assert len({port for _, port in picked}) == 3
    supervisor = Supervisor(None, tmp_path, env={}, metrics=addresses)
    seen_by_children = load_config(env=supervisor.env).metrics
    assert {name: getattr(seen_by_children, name) for name in SERVICES} == addresses


def test_status_lists_the_running_sets_addresses_else_the_configured_ones(tmp_path):
    config = build_config({"metrics": {"streamer": "127.0.0.1:9101"}, "state_dir": str(tmp_path)})
    assert served_metrics(config) == {"streamer": "127.0.0.1:9101"}
    running = {"auth": "127.0.0.1:9100", "watcher": "127.0.0.1:9102"}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(running))
    assert served_metrics(config) == running
    out = io.StringIO()
    output.print_status({"services": {}, "auth": None, "tunnel": None, "watch_root": None, "jobs": None,
                         "metrics": running}, out)
    assert out.getvalue().splitlines() == ["metrics    auth 127.0.0.1:9100, watcher 127.0.0.1:9102"]
