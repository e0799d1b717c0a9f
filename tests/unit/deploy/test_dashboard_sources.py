"""Where the dashboard's data comes from: the scrape configuration, and its native variant.

The native stack runs deploy/prometheus/prometheus.yml with only its targets replaced
(``aquaflow_devstack.prometheus.native_config``), so what the integration test proves of
the dashboard holds for the product's configuration too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aquaflow_devstack.prometheus import NativeTargets, native_config

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ROOT / "deploy" / "prometheus" / "prometheus.yml"
TARGETS = NativeTargets(
    services={"router": "127.0.0.1:18001", "inference-plankton_classifier": "127.0.0.1:18002"},
    triton="127.0.0.1:18003",
    rabbitmq="127.0.0.1:15692",
)


def product() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(PRODUCT.read_text())
    return config


def test_rabbitmq_per_queue_families_are_scraped() -> None:
    detailed = [job for job in product()["scrape_configs"] if job.get("metrics_path") == "/metrics/detailed"]
    assert len(detailed) == 1
    # rabbitmq_detailed_queue_messages{,_ready,_unacked} and rabbitmq_detailed_queue_consumers.
    assert set(detailed[0]["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}


def test_native_config_changes_only_the_targets() -> None:
    native = native_config(TARGETS)
    jobs = {job["job_name"]: job for job in native["scrape_configs"]}
    for job in product()["scrape_configs"]:
        ours = jobs[job["job_name"]]
        assert {k: v for k, v in ours.items() if k != "static_configs"} == {
            k: v for k, v in job.items() if k != "static_configs"
        }
    assert jobs["aquaflow"]["static_configs"] == [
        {"targets": ["127.0.0.1:18002"], "labels": {"service": "inference-plankton_classifier"}},
        {"targets": ["127.0.0.1:18001"], "labels": {"service": "router"}},
    ]
    assert jobs["triton"]["static_configs"] == [{"targets": ["127.0.0.1:18003"]}]
    assert jobs["rabbitmq-queues"]["static_configs"] == [{"targets": ["127.0.0.1:15692"]}]
    assert native["global"] == product()["global"]


def test_native_config_finds_the_rules_from_anywhere() -> None:
    rules = native_config(TARGETS)["rule_files"]
    assert rules == [str(ROOT / "deploy" / "prometheus" / "alerts.yml")]
    assert all(Path(rule).is_file() for rule in rules)


def test_native_config_scrapes_faster_when_asked() -> None:
    assert native_config(TARGETS, scrape_interval="1s")["global"] == {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
    }


def test_without_triton_its_job_is_left_out() -> None:
    native = native_config(NativeTargets(services={"router": "127.0.0.1:1"}))
    assert "triton" not in {job["job_name"] for job in native["scrape_configs"]}


def test_a_job_without_native_target_is_an_error(tmp_path: Path) -> None:
    config = product()
    config["scrape_configs"].append({"job_name": "redis", "static_configs": [{"targets": ["redis:9121"]}]})
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="redis"):
        native_config(TARGETS, base=path)
