"""The alert rules and the Prometheus configurations, checked with promtool (no server runs).

``promtool check rules`` validates deploy/prometheus/alerts.yml, ``promtool test rules`` runs
its unit tests (deploy/prometheus/alerts_test.yml: every rule fires on the series it is
meant for, with its labels and rendered annotations, and stays quiet on the others), and
``promtool check config`` validates the product's configuration and its native variant.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aquaflow_devstack.prometheus import NativeTargets, native_config, write_config

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
SEVERITIES = {"critical", "warning"}
# What operators asked to be alerted on, and the rule that does it.
REQUIRED_ALERTS = {
    "AquaflowDeadLettersGrowing",  # dead letters growing
    "AquaflowBacklogLarge",  # backlog size per model
    "AquaflowBacklogOld",  # backlog age
    "AquaflowConsumerMissing",  # a queue without consumer
    "AquaflowConsumerPaused",  # a consumer paused for long
    "AquaflowTritonDown",  # Triton failing ...
    "AquaflowTritonFailing",
    "AquaflowTritonQueueGrowing",  # ... or its queue growing
    "AquaflowEcoTaxaPushFailed",  # the EcoTaxa push failing
    "AquaflowEcoTaxaUnreachable",
    "AquaflowServiceDown",  # a service down
    "AquaflowModelDrift",  # model drift detected
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (scripts/install-prometheus.sh installs Debian's prometheus package)")
    return found


def run(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_are_valid(promtool: str) -> None:
    output = run(promtool, "check", "rules", RULES.name)
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "test", "rules", RULE_TESTS.name)


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in alert_rules()}


def test_alerts_cover_what_operators_asked_for() -> None:
    assert {rule["alert"] for rule in alert_rules()} >= REQUIRED_ALERTS


def test_every_alert_says_how_bad_and_what_it_means() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert rule["alert"].startswith("Aquaflow"), rule["alert"]


def test_the_product_configuration_loads_the_rules(promtool: str) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES.name]
    output = run(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output


def test_the_native_configuration_is_valid(promtool: str, tmp_path: Path) -> None:
    targets = NativeTargets(
        services={"ingest": "127.0.0.1:18001", "inference-plankton_classifier": "127.0.0.1:18002"},
        triton="127.0.0.1:18003",
    )
    path = write_config(native_config(targets, scrape_interval="1s"), tmp_path / "prometheus.yml")
    output = run(promtool, "check", "config", str(path), cwd=tmp_path)
    assert "SUCCESS: 1 rule files found" in output
