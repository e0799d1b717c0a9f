"""The Grafana dashboard, checked offline: its layout, its queries and the metrics they read.

Every metric a panel or an alert rule reads is either declared by the project's code (a
``metrics.py`` of a service or of the shared library) or is one of RabbitMQ's or Triton's,
named in the catalogue of docs/observability.md; every metric the code declares is in that
catalogue. Whether the queries return data on a running stack is the integration test's
business (tests/integration/observability).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aquaflow_devstack.prometheus import dashboard_queries, metric_names

ROOT = Path(__file__).resolve().parents[3]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
CATALOGUE = ROOT / "docs" / "observability.md"
METRIC_MODULES = [ROOT / "shared" / "src" / "aquaflow_shared" / "metrics.py", *ROOT.glob("services/*/src/*/metrics.py")]
DECLARED = re.compile(r'"(aquaflow_[a-z0-9_]+)"')
# Series of a histogram (or a counter in the OpenMetrics exposition) carry a suffix.
SUFFIXES = ("_bucket", "_count", "_sum")
GRID_COLUMNS = 24
# What operators asked the dashboard to show, by the metric that shows it.
REQUIRED_ON_DASHBOARD = {
    "aquaflow_consumer_paused",  # consumers paused
    "aquaflow_retries_total",  # retries
    "aquaflow_ingest_sweep_cycles_total",  # the reconciliation sweep
    "aquaflow_samples_ready_total",  # samples
    "aquaflow_ecotaxa_pushes_total",  # EcoTaxa pushes
    "rabbitmq_detailed_queue_messages",  # backlog per queue and per model
    "aquaflow_message_queue_wait_seconds_bucket",  # backlog age
    "aquaflow_model_drift_score",  # model drift
    "aquaflow_model_drift_detected",
    "aquaflow_dead_letters_total",  # dead letters
}


def dashboards() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, json.loads(path.read_text())) for path in sorted(DASHBOARDS.glob("*.json"))]


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for panel in dashboard["panels"]:
        flat.append(panel)
        flat.extend(panel.get("panels", []))
    return flat


def declared_metrics() -> set[str]:
    return {name for module in METRIC_MODULES for name in DECLARED.findall(module.read_text())}


def alert_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def base_name(name: str, declared: set[str]) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in declared:
            return name.removesuffix(suffix)
    return name


def test_there_is_a_dashboard_with_queries() -> None:
    assert dashboards()
    assert len(dashboard_queries()) >= 20


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    for name, dashboard in dashboards():
        panels = panels_of(dashboard)
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), name
        taken: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
            cells = {(grid["x"] + dx, grid["y"] + dy) for dx in range(grid["w"]) for dy in range(grid["h"])}
            assert not cells & taken, f"{panel['title']} overlaps another panel"
            taken |= cells


def test_every_query_panel_reads_the_provisioned_prometheus() -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    for _, dashboard in dashboards():
        for panel in panels_of(dashboard):
            if panel["type"] == "row":
                assert not panel.get("targets"), panel["title"]
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert ref_ids, panel["title"]
            assert len(ref_ids) == len(set(ref_ids)), panel["title"]
            assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/install-prometheus.sh installs Debian's prometheus package)")
    # promtool parses expressions offline only inside rule files: one recording rule per query.
    rules = [{"record": f"dashboard:query_{i}", "expr": q.expr} for i, q in enumerate(dashboard_queries())]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (stage, outcome) (rate(aquaflow_messages_total[1m]))", {"aquaflow_messages_total"}),
        ('max by (model) (label_replace(x{queue=~"a.b"}, "model", "$1", "queue", `(.+)`)) > 0', {"x"}),
        ("time() - max(y > 0) unless on (model) z offset 15m or nan", {"y", "z"}),
    ],
)
def test_metric_names_are_read_from_queries(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_read_only_metrics_that_exist(source: str) -> None:
    declared = declared_metrics()
    catalogue = CATALOGUE.read_text()
    queries = [q.expr for q in dashboard_queries()] if source == "dashboard" else alert_queries()
    unknown = set()
    for expr in queries:
        for name in metric_names(expr):
            if name.startswith("aquaflow_"):
                if base_name(name, declared) not in declared:
                    unknown.add(name)
            elif name != "up" and f"`{name}`" not in catalogue:
                unknown.add(name)
    assert not unknown, f"{source} reads metrics neither the code declares nor the catalogue names: {sorted(unknown)}"


def test_every_declared_metric_is_in_the_catalogue() -> None:
    catalogue = CATALOGUE.read_text()
    undocumented = sorted(name for name in declared_metrics() if f"`{name}`" not in catalogue)
    assert not undocumented, f"add these to {CATALOGUE.relative_to(ROOT)}: {undocumented}"


def test_the_dashboard_shows_what_operators_asked_for() -> None:
    read = {name for query in dashboard_queries() for name in metric_names(query.expr)}
    assert read >= REQUIRED_ON_DASHBOARD


def test_queries_are_plain_promql_for_the_integration_test() -> None:
    # Grafana variables ($__rate_interval, $model ...) would need substituting before Prometheus
    # can evaluate a query; "$1" in label_replace is PromQL's own.
    for query in dashboard_queries():
        assert not re.search(r"\$(?!1\b)\w", query.expr), query.name


def test_query_names_identify_their_panel() -> None:
    names = [query.name for query in dashboard_queries()]
    assert len(names) == len(set(names))
