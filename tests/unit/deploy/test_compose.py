"""docker-compose.yml stays valid and in step with the code, checked without Docker."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aquaflow_shared.settings import env_names
from aquaflow_shared.topology import S3_NOTIFICATION, Topology

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"

# Console script of each service image → its settings class.
SETTINGS_OF_COMMAND = {
    "aquaflow-ingest": "aquaflow_ingest.settings:IngestSettings",
    "aquaflow-router": "aquaflow_router.settings:RouterSettings",
    "aquaflow-inference": "aquaflow_inference.settings:InferenceSettings",
    "aquaflow-results": "aquaflow_results.settings:ResultsSettings",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def aquaflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc for name, svc in compose["services"].items() if svc.get("command", [""])[0] in SETTINGS_OF_COMMAND
    }


def test_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"compose schema not found at {SCHEMA}")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_runs_the_whole_stack_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for required in ("rabbitmq", "minio", "mongo", "triton", "prometheus", "grafana", "results", "router", "ingest"):
        assert required in services, required
    models = {
        svc["environment"]["AQUAFLOW_INFERENCE_MODEL"]
        for svc in aquaflow_services(compose).values()
        if "AQUAFLOW_INFERENCE_MODEL" in svc["environment"]
    }
    assert models == {p.name for p in (ROOT / "model_repository").iterdir() if (p / "config.pbtxt").exists()}
    for name, svc in services.items():
        if svc.get("restart") != "no":
            assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_every_environment_variable_is_one_the_service_reads(compose: dict[str, Any]) -> None:
    for name, svc in aquaflow_services(compose).items():
        module, cls = SETTINGS_OF_COMMAND[svc["command"][0]].split(":")
        settings_cls = getattr(importlib.import_module(module), cls)
        unknown = set(svc["environment"]) - env_names(settings_cls)
        assert not unknown, f"{name} sets {sorted(unknown)}, which {cls} does not read"


def test_console_scripts_exist(compose: dict[str, Any]) -> None:
    scripts: set[str] = set()
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    for svc in aquaflow_services(compose).values():
        assert svc["command"][0] in scripts


def test_minio_publishes_into_the_notifications_exchange(compose: dict[str, Any]) -> None:
    env = compose["services"]["minio"]["environment"]
    topology = Topology(prefix=compose["x-broker-env"]["AQUAFLOW_BROKER_PREFIX"])
    assert env["MINIO_NOTIFY_AMQP_EXCHANGE"] == topology.notifications.name
    assert env["MINIO_NOTIFY_AMQP_EXCHANGE_TYPE"] == "topic"
    assert env["MINIO_NOTIFY_AMQP_ROUTING_KEY"] == S3_NOTIFICATION
    # FastStream declares the exchange durable; MinIO must agree or declaration fails.
    assert env["MINIO_NOTIFY_AMQP_DURABLE"] == "on"
    assert env["MINIO_NOTIFY_AMQP_DELIVERY_MODE"] == "2"


def test_mounted_files_and_scrape_targets_exist(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            assert target.split(":")[0] in compose["services"], target
    for dashboard in (ROOT / "deploy/grafana/dashboards").glob("*.json"):
        assert json.loads(dashboard.read_text())["panels"]
