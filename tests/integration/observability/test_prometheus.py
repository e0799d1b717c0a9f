"""The dashboard and the alert rules against real metrics: Prometheus scraping a demo-sized run.

Every query of every Grafana panel in deploy/grafana/ must return data, as the panel asks
it (a range query over the run), and read only metrics some target exports. Queries that
read RabbitMQ's per-queue series must show this stack's queues, not just any queue of the
shared broker.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Any

import pytest

from aquaflow_devstack.prometheus import DashboardQuery, dashboard_queries, metric_family, metric_names
from tests.integration.observability.conftest import ARCHIVED, MAX_ATTEMPTS, ObservedRun

pytestmark = [pytest.mark.integration, pytest.mark.triton]

QUERIES = dashboard_queries()
STEP_SECONDS = 1.0


def has_value(series: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(value)) for entry in series for _, value in entry["values"])


def restricted_to_prefix(expr: str, prefix: str) -> str:
    """``expr`` with every per-queue RabbitMQ selector narrowed to the queues of ``prefix``."""
    only_ours = "queue=~`" + re.escape(prefix) + r"\..+`"

    def narrow(match: re.Match[str]) -> str:
        name, brace = match.group(1), match.group(2)
        return f"{name}{{{only_ours}, " if brace else f"{name}{{{only_ours}}}"

    return re.sub(r"\b(rabbitmq_detailed_[a-z_]+)(\{)?", narrow, expr)


def test_every_scrape_target_is_up(observed_run: ObservedRun) -> None:
    targets = observed_run.prometheus.targets()
    jobs = Counter(t["labels"]["job"] for t in targets)
    assert jobs == Counter(
        {"aquaflow": len(observed_run.stack.services), "triton": 1, "rabbitmq": 1, "rabbitmq-queues": 1}
    )
    down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert not down


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_panel_query_returns_data(observed_run: ObservedRun, query: DashboardQuery) -> None:
    prometheus = observed_run.prometheus
    exported = prometheus.exported_metrics()
    names = metric_names(query.expr)
    assert names, f"no metric in {query.expr!r}"
    missing = {n for n in names if metric_family(n, exported) is None}
    assert not missing, f"{query.name} reads metrics no target exports: {sorted(missing)}"

    expr = restricted_to_prefix(query.expr, observed_run.prefix)
    # From the run's start to now, with a step falling on now: the last scrape counts too.
    end = time.time()
    start = end - math.ceil((end - observed_run.started) / STEP_SECONDS) * STEP_SECONDS
    series = prometheus.query_range(expr, start, end, STEP_SECONDS)
    assert has_value(series), f"{query.name}: no data for {expr!r} during the run"


def test_alert_rules_evaluate_on_real_series(observed_run: ObservedRun) -> None:
    groups = observed_run.prometheus.rule_groups()
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 15
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken
    # Nothing in a healthy run is down, missing or paused for minutes.
    firing = {rule["name"] for rule in rules if rule["state"] == "firing"}
    assert not firing & {"AquaflowServiceDown", "AquaflowTritonDown", "AquaflowConsumerPaused"}


def test_metrics_agree_with_what_the_run_saw(observed_run: ObservedRun) -> None:
    prometheus, seen = observed_run.prometheus, observed_run.seen

    def total(expr: str) -> float:
        found = prometheus.query(expr)
        return sum(float(entry["value"][1]) for entry in found)

    assert total("sum(aquaflow_dead_letters_total)") == len(seen.dead)
    by_code = Counter(letter.code for letter in seen.dead.values())
    assert by_code["retries_exhausted"] == 1
    assert seen.dead[ARCHIVED].code == "retries_exhausted"
    assert total('sum(aquaflow_dead_letters_total{reason="retries_exhausted"})') == 1
    assert total('sum(aquaflow_retries_total{code="storage_refused"})') == MAX_ATTEMPTS - 1
    assert total('sum(aquaflow_ingest_events_total{source="s3-reconcile", outcome="published"})') >= 1
    assert observed_run.swept_key in seen.results, "the upload without notification was not found by the sweep"
    done = sum(1 for s in observed_run.samples.values() if (s.get("push") or {}).get("state") == "done")
    assert done == len(observed_run.planned)
    # The results service may be shared with other test modules' samples: at least this run's pushes.
    assert total('sum(aquaflow_ecotaxa_pushes_total{state="done"})') >= done
