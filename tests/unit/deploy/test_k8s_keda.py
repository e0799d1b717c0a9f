"""KEDA scales each model's inference workers on that model's queue, down to zero when idle.

The ScaledObjects and the TriggerAuthentication are validated against KEDA's own CRD schemas
(data/schemas/keda, from KEDA v2.20.2), made strict as the API server's pruning makes them:
an unknown field would be dropped silently there, so it is an error here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from aquaflow_router.app import downstream_queues
from aquaflow_router.table_file import load_routing_table
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology
from tests.unit.deploy.k8s import (
    KEDA_SCHEMAS,
    ROOT,
    config_map_data,
    environment,
    named,
    of_kind,
    rendered,
    secret_value,
    service_containers,
)
from tests.unit.deploy.kustomize import Resource


def crd_schema(path: Path) -> dict[str, Any]:
    """The openAPIV3Schema of a CRD's served version, closed against unknown fields."""
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
    schema: dict[str, Any] = strict(version["schema"]["openAPIV3Schema"])
    return schema


def strict(schema: Any) -> Any:
    """Objects that list their properties accept no others, unless they preserve unknown fields."""
    if isinstance(schema, dict):
        closed = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


SCHEMAS = {
    "ScaledObject": crd_schema(KEDA_SCHEMAS / "keda.sh_scaledobjects.yaml"),
    "TriggerAuthentication": crd_schema(KEDA_SCHEMAS / "keda.sh_triggerauthentications.yaml"),
}


@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    return rendered()


def scaled_objects(resources: list[Resource]) -> list[Resource]:
    return of_kind(resources, "ScaledObject")


def inference_workers(resources: list[Resource]) -> dict[str, tuple[Resource, dict[str, str]]]:
    """Model → (its Deployment, its environment)."""
    workers = {}
    for service in service_containers(resources):
        if service.command == "aquaflow-inference":
            env = environment(resources, service.container)
            workers[env["AQUAFLOW_INFERENCE_MODEL"]] = (service.deployment, env)
    return workers


def test_keda_resources_match_the_crd_schemas(resources: list[Resource]) -> None:
    checked = [r for r in resources if r["kind"] in SCHEMAS]
    assert {r["kind"] for r in checked} == set(SCHEMAS)
    for resource in checked:
        assert resource["apiVersion"] == "keda.sh/v1alpha1"
        jsonschema.validate(resource, SCHEMAS[resource["kind"]])


def test_schema_validation_catches_a_misspelt_field(resources: list[Resource]) -> None:
    scaled = copy.deepcopy(scaled_objects(resources)[0])
    scaled["spec"]["cooldownPeriods"] = scaled["spec"].pop("cooldownPeriod")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS["ScaledObject"])
    scaled = copy.deepcopy(scaled_objects(resources)[0])
    del scaled["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCHEMAS["ScaledObject"])


def test_each_model_scales_on_its_own_queue(resources: list[Resource]) -> None:
    workers = inference_workers(resources)
    targets = {}
    for scaled in scaled_objects(resources):
        (trigger,) = scaled["spec"]["triggers"]
        deployment = named(resources, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
        model = next(m for m, (d, _) in workers.items() if d is deployment)
        env = workers[model][1]
        topology = Topology(prefix=env["AQUAFLOW_BROKER_PREFIX"])
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == topology.inference_queue(model).name
        targets[model] = scaled
    assert set(targets) == set(workers), "every model's workers have a ScaledObject"


def test_the_router_keeps_every_scaled_queue_declared(resources: list[Resource]) -> None:
    """Scaling from zero needs the queue to exist with no worker: the router declares it at start."""
    router = next(c for c in service_containers(resources) if c.command == "aquaflow-router")
    env = environment(resources, router.container)
    table = load_routing_table(ROOT / "config/routing.yaml")
    topology = Topology(prefix=BrokerSettings(prefix=env["AQUAFLOW_BROKER_PREFIX"]).prefix)
    declared = {queue.name for queue in downstream_queues(topology, table)}
    for scaled in scaled_objects(resources):
        queue = scaled["spec"]["triggers"][0]["metadata"]["queueName"]
        assert queue in declared, f"{queue} is not declared by the router"


def test_scales_to_zero_with_sane_timing(resources: list[Resource]) -> None:
    for scaled in scaled_objects(resources):
        spec = scaled["spec"]
        assert spec["minReplicaCount"] == 0
        assert spec["maxReplicaCount"] >= 1
        assert 5 <= spec["pollingInterval"] <= 60
        assert spec["cooldownPeriod"] >= 60, "a worker must not come and go between uploads"
        (trigger,) = spec["triggers"]
        metadata = trigger["metadata"]
        # Over the management API the length counts unacknowledged messages too, so a worker
        # holding its prefetch window is not scaled away mid-batch (the AMQP protocol reads
        # only the ready ones).
        assert metadata["protocol"] == "http"
        assert metadata["mode"] == "QueueLength"
        assert float(metadata["activationValue"]) == 0
        assert float(metadata["value"]) >= 1
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60


def test_a_worker_takes_at_least_its_prefetch_window(resources: list[Resource]) -> None:
    workers = inference_workers(resources)
    for scaled in scaled_objects(resources):
        deployment_name = scaled["spec"]["scaleTargetRef"]["name"]
        env = next(e for d, e in workers.values() if d["metadata"]["name"] == deployment_name)
        assert float(scaled["spec"]["triggers"][0]["metadata"]["value"]) >= int(env["AQUAFLOW_INFERENCE_MAX_IN_FLIGHT"])


def test_trigger_authentication_reads_the_rabbitmq_secret(resources: list[Resource]) -> None:
    (auth,) = of_kind(resources, "TriggerAuthentication")
    for scaled in scaled_objects(resources):
        assert scaled["spec"]["triggers"][0]["authenticationRef"]["name"] == auth["metadata"]["name"]
    references = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(references) == {"host", "username", "password"}
    for ref in references.values():
        assert secret_value(resources, ref["name"], ref["key"]) is not None, ref
    host = secret_value(resources, references["host"]["name"], references["host"]["key"])
    assert host is not None
    management = urlsplit(host)
    # KEDA reads the vhost from the URL's last path segment; the services use the default one.
    broker = urlsplit(secret_value(resources, "aquaflow-rabbitmq", "amqp-url") or "")
    assert management.scheme in {"http", "https"}
    assert management.hostname == broker.hostname
    assert management.path in {"", "/"}
    assert broker.path in {"", "/"}


def test_the_prefix_is_one_for_every_service(resources: list[Resource]) -> None:
    prefixes = {environment(resources, c.container)["AQUAFLOW_BROKER_PREFIX"] for c in service_containers(resources)}
    assert prefixes == {config_map_data(resources, "aquaflow-common")["AQUAFLOW_BROKER_PREFIX"]}
