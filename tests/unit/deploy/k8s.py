"""What the tests read from deploy/k8s: the rendered overlay, its workloads and their environment."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from tests.unit.deploy.kustomize import Resource, containers, render

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "k8s" / "base"
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "example"
KEDA_SCHEMAS = ROOT / "data" / "schemas" / "keda"

# Console script of the service image → the settings class that reads its environment.
SETTINGS_OF_COMMAND = {
    "aquaflow-ingest": "aquaflow_ingest.settings:IngestSettings",
    "aquaflow-router": "aquaflow_router.settings:RouterSettings",
    "aquaflow-inference": "aquaflow_inference.settings:InferenceSettings",
    "aquaflow-results": "aquaflow_results.settings:ResultsSettings",
}


def rendered() -> list[Resource]:
    return render(OVERLAY)


def of_kind(resources: Iterable[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: Iterable[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def settings_class(command: str) -> type[BaseSettings]:
    module, cls = SETTINGS_OF_COMMAND[command].split(":")
    settings: type[BaseSettings] = getattr(importlib.import_module(module), cls)
    return settings


@dataclass(frozen=True)
class ServiceContainer:
    """One aquaflow service container of a Deployment, with the workload around it."""

    deployment: Resource
    container: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])

    @property
    def command(self) -> str:
        return str(self.container["command"][0])

    @property
    def pod(self) -> dict[str, Any]:
        pod: dict[str, Any] = self.deployment["spec"]["template"]
        return pod


def service_containers(resources: list[Resource]) -> Iterator[ServiceContainer]:
    for deployment in of_kind(resources, "Deployment"):
        for container in containers(deployment):
            if container.get("command", [""])[0] in SETTINGS_OF_COMMAND:
                yield ServiceContainer(deployment, container)


def secret_value(resources: list[Resource], name: str, key: str) -> str | None:
    """A key of a Secret rendered in the overlay (stringData), None where it is absent."""
    for secret in of_kind(resources, "Secret"):
        if secret["metadata"]["name"] == name:
            value = secret.get("stringData", {}).get(key)
            return None if value is None else str(value)
    return None


def config_map_data(resources: list[Resource], name: str) -> dict[str, str]:
    data: dict[str, str] = named(resources, "ConfigMap", name).get("data", {})
    return data


def environment(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    """The variables a container starts with, as the kubelet sets them: envFrom first, env over it.

    Values come from the overlay's ConfigMaps and Secrets; an optional key that is absent
    sets nothing, a required one that is absent fails.
    """
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_map_data(resources, source["configMapRef"]["name"]))
        else:
            raise AssertionError(f"envFrom {source}: only ConfigMaps are loaded whole; Secrets one key at a time")
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        ref = entry["valueFrom"]
        if "secretKeyRef" in ref:
            key_ref = ref["secretKeyRef"]
            value = secret_value(resources, key_ref["name"], key_ref["key"])
        elif "configMapKeyRef" in ref:
            key_ref = ref["configMapKeyRef"]
            value = config_map_data(resources, key_ref["name"]).get(key_ref["key"])
        else:
            raise AssertionError(f"{entry['name']}: unexpected source {ref}")
        if value is None:
            assert key_ref.get("optional"), f"{entry['name']}: {key_ref} is not in the overlay"
            continue
        env[entry["name"]] = value
    return env
