"""deploy/k8s: valid Kubernetes objects, wired to what the services actually read and serve.

Core resources are validated against Kubernetes' own JSON schemas (the kubernetes-validate
package, offline, strict: unknown fields are errors) for the oldest and newest release the
manifests target.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from aquaflow_router.app import create_app as create_router
from aquaflow_router.settings import RouterSettings
from aquaflow_router.table_file import load_routing_table
from aquaflow_shared.settings import env_names
from tests.unit.deploy.k8s import (
    ROOT,
    config_map_data,
    environment,
    named,
    of_kind,
    rendered,
    service_containers,
    settings_class,
)
from tests.unit.deploy.kustomize import Resource, containers, split_image

# The oldest Kubernetes release the manifests are written for, and the newest schema known.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
PLACEHOLDER = "change-me"


@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    return rendered()


def core(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if not r["apiVersion"].startswith("keda.sh/")]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_match_kubernetes_schemas(resources: list[Resource], version: str) -> None:
    checked = core(resources)
    assert {r["kind"] for r in checked} >= {"Deployment", "Service", "ConfigMap", "Secret", "Namespace"}
    for resource in checked:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} on {version}: {error.message}")


def test_schema_validation_catches_a_misspelt_field(resources: list[Resource]) -> None:
    """The check above is strict: a typo in a probe is an error, not a silently dropped field."""
    deployment = copy.deepcopy(named(resources, "Deployment", "router"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_every_service_and_model_runs_as_a_deployment(resources: list[Resource]) -> None:
    commands = {c.command for c in service_containers(resources)}
    assert commands == {"aquaflow-ingest", "aquaflow-router", "aquaflow-inference", "aquaflow-results"}
    served = {
        environment(resources, c.container)["AQUAFLOW_INFERENCE_MODEL"]
        for c in service_containers(resources)
        if c.command == "aquaflow-inference"
    }
    repository = {p.name for p in (ROOT / "model_repository").iterdir() if (p / "config.pbtxt").exists()}
    routed = set(load_routing_table(ROOT / "config/routing.yaml").models)
    assert served == repository
    assert routed <= served, "a model the router sends requests to has no workers"
    assert {d["metadata"]["name"] for d in of_kind(resources, "Deployment")} >= {"triton", "ingest-sweeper"}


def test_every_variable_is_one_the_service_reads(resources: list[Resource]) -> None:
    for service in service_containers(resources):
        settings_cls = settings_class(service.command)
        unknown = set(environment(resources, service.container)) - env_names(settings_cls)
        assert not unknown, f"{service.name} sets {sorted(unknown)}, which {settings_cls.__name__} does not read"


def test_every_service_accepts_its_environment(resources: list[Resource], monkeypatch: pytest.MonkeyPatch) -> None:
    """ConfigMap values and the overlay's Secrets parse and pass each settings class's checks."""
    for service in service_containers(resources):
        with monkeypatch.context() as env:
            for inherited in [key for key in os.environ if key.startswith("AQUAFLOW_")]:
                env.delenv(inherited)
            for key, value in environment(resources, service.container).items():
                env.setenv(key, value)
            settings_class(service.command)()


def holds_secret(annotation: Any) -> bool:
    """A settings field whose type carries a SecretStr anywhere (a dict of them, a model with one)."""
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(holds_secret(arg) for arg in typing.get_args(annotation))


def secret_env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """The environment variables of a settings class that hold secrets."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field_name, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= secret_env_names(annotation)
        elif holds_secret(annotation):
            names.add(f"{prefix}{field_name}".upper())
    return names


def test_every_secret_setting_comes_from_a_secret(resources: list[Resource]) -> None:
    """A setting typed SecretStr is never a literal or a ConfigMap value, only a Secret's key."""
    secrets = {s["metadata"]["name"] for s in of_kind(resources, "Secret")}
    for service in service_containers(resources):
        wanted = secret_env_names(settings_class(service.command))
        from_secrets = {}
        for entry in service.container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                from_secrets[entry["name"]] = ref["name"]
        set_here = set(environment(resources, service.container))
        misplaced = (wanted & set_here) - set(from_secrets)
        assert not misplaced, f"{service.name}: {sorted(misplaced)} must come from a Secret"
        assert set(from_secrets.values()) <= secrets, f"{service.name} names a Secret the overlay lacks"
    assert "AQUAFLOW_BROKER_URL" in secret_env_names(settings_class("aquaflow-router"))


def test_example_secrets_hold_marked_placeholders_only(resources: list[Resource]) -> None:
    for secret in of_kind(resources, "Secret"):
        for key, value in secret["stringData"].items():
            password = urlsplit(value).password if "://" in value else None
            if password is not None:
                assert password.startswith(PLACEHOLDER), f"{secret['metadata']['name']}.{key}"
            elif any(word in key for word in ("password", "token", "secret", "tenants")):
                assert PLACEHOLDER in value, f"{secret['metadata']['name']}.{key} is not a marked placeholder"


def test_mongodb_url_names_a_replica_set(resources: list[Resource]) -> None:
    service = next(c for c in service_containers(resources) if c.command == "aquaflow-results")
    url = environment(resources, service.container)["AQUAFLOW_RESULTS_MONGODB_URL"]
    assert "replicaSet=" in url
    assert len(urlsplit(url).netloc.split("@")[-1].split(",")) == 3, "three members"


def test_probes_hit_paths_the_services_serve_on_their_port(resources: list[Resource]) -> None:
    router = create_router(RouterSettings(routing_table=ROOT / "config/routing.yaml"))
    served = {path for path, _ in router.routes}
    assert served >= {"/health", "/metrics"}
    for service in service_containers(resources):
        container = service.container
        port = int(environment(resources, container)["AQUAFLOW_HTTP_PORT"])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert ports[get["port"]] == port, f"{service.name} {probe} port"
            assert get["path"] in served, f"{service.name} {probe} path"
        # Readiness follows the dependencies (a paused consumer leaves the Service); liveness
        # must not, or an outage of Triton, S3 or MongoDB would restart every worker in a loop.
        assert container["readinessProbe"]["httpGet"]["path"] == "/health", service.name
        assert container["livenessProbe"]["httpGet"]["path"] == "/metrics", service.name


def test_every_container_has_requests_and_limits(resources: list[Resource]) -> None:
    for deployment in of_kind(resources, "Deployment"):
        for container in containers(deployment):
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            assert {"cpu", "memory"} <= set(requests), (deployment["metadata"]["name"], container["name"])
            assert {"cpu", "memory"} <= set(limits), (deployment["metadata"]["name"], container["name"])


def test_prometheus_scrapes_every_workload_where_it_serves_metrics(resources: list[Resource]) -> None:
    for deployment in of_kind(resources, "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {p["containerPort"] for c in containers(deployment) for p in c.get("ports", [])}
        assert int(annotations["prometheus.io/port"]) in ports, deployment["metadata"]["name"]


def test_images_are_pinned(resources: list[Resource]) -> None:
    for deployment in of_kind(resources, "Deployment"):
        for container in containers(deployment):
            _name, tag, digest = split_image(container["image"])
            assert digest or (tag and tag != "latest"), container["image"]


def test_shutdown_outlasts_the_graceful_timeout(resources: list[Resource]) -> None:
    for service in service_containers(resources):
        env = environment(resources, service.container)
        graceful = float(env["AQUAFLOW_BROKER_GRACEFUL_TIMEOUT_SECONDS"])
        pre_stop = service.container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
        assert service.pod["spec"]["terminationGracePeriodSeconds"] > graceful + pause, service.name


def test_services_select_pods_and_name_ports_they_expose(resources: list[Resource]) -> None:
    deployments = of_kind(resources, "Deployment")
    for service in of_kind(resources, "Service"):
        selector = service["spec"]["selector"]
        pods = [
            d["spec"]["template"]
            for d in deployments
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        for pod in pods:
            names = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names, (service["metadata"]["name"], port)
    for deployment in deployments:
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )


def test_workers_reach_triton_through_its_service(resources: list[Resource]) -> None:
    triton = named(resources, "Service", "triton")
    grpc = next(p["port"] for p in triton["spec"]["ports"] if p["name"] == "grpc")
    for service in service_containers(resources):
        if service.command == "aquaflow-inference":
            url = environment(resources, service.container)["AQUAFLOW_INFERENCE_TRITON_GRPC_URL"]
            assert url == f"triton:{grpc}"


def test_webhook_is_served_by_the_ingest_service(resources: list[Resource]) -> None:
    from aquaflow_ingest.webhook import PATH

    service = named(resources, "Service", "ingest")
    ingest = [c for c in service_containers(resources) if c.command == "aquaflow-ingest"]
    served = [c for c in ingest if service["spec"]["selector"].items() <= c.pod["metadata"]["labels"].items()]
    assert served
    for container in served:
        assert "AQUAFLOW_INGEST_WEBHOOK_AUTH_TOKEN" in environment(resources, container.container), PATH


def test_one_sweeper_with_its_checkpoint_on_a_volume_and_claims_in_redis(resources: list[Resource]) -> None:
    sweeping = []
    for service in service_containers(resources):
        if service.command != "aquaflow-ingest":
            continue
        env = environment(resources, service.container)
        assert urlsplit(env["AQUAFLOW_INGEST_DEDUPE_REDIS_URL"]).scheme in {"redis", "rediss"}, service.name
        if float(env.get("AQUAFLOW_INGEST_SWEEP_INTERVAL_SECONDS", "30")) > 0:
            sweeping.append(service)
            checkpoint = Path(env["AQUAFLOW_INGEST_CHECKPOINT_PATH"])
            mounts = {m["mountPath"]: m["name"] for m in service.container["volumeMounts"]}
            volumes = {v["name"]: v for v in service.pod["spec"]["volumes"]}
            claim = volumes[mounts[str(checkpoint.parent)]]["persistentVolumeClaim"]["claimName"]
            named(resources, "PersistentVolumeClaim", claim)
    assert [s.name for s in sweeping] == ["ingest-sweeper"]
    sweeper = sweeping[0].deployment
    assert sweeper["spec"]["replicas"] == 1
    assert sweeper["spec"]["strategy"]["type"] == "Recreate"


def test_routing_configmap_is_config_routing_yaml(resources: list[Resource]) -> None:
    mounted = config_map_data(resources, "aquaflow-routing")["routing.yaml"]
    assert yaml.safe_load(mounted) == yaml.safe_load((ROOT / "config/routing.yaml").read_text()), (
        "deploy/k8s/base/routing.yaml differs from config/routing.yaml: copy the table into it"
    )
    router = next(c for c in service_containers(resources) if c.command == "aquaflow-router")
    path = Path(environment(resources, router.container)["AQUAFLOW_ROUTER_ROUTING_TABLE"])
    mount = next(m for m in router.container["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in router.pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "aquaflow-routing"
    assert {"key": "routing.yaml", "path": path.name} in volume["configMap"]["items"]


def test_inference_replicas_belong_to_keda(resources: list[Resource]) -> None:
    for service in service_containers(resources):
        if service.command == "aquaflow-inference":
            assert "replicas" not in service.deployment["spec"], f"{service.name}: apply would reset KEDA's count"


def test_triton_runs_on_a_gpu_node(resources: list[Resource]) -> None:
    triton = named(resources, "Deployment", "triton")
    pod = triton["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    server = next(c for c in pod["containers"] if c["name"] == "triton")
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--model-repository=/models" in server["command"]
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    assert "emptyDir" in models
    fetch = next(c for c in pod["initContainers"] if c["name"] == "fetch-models")
    assert config_map_data(resources, "aquaflow-triton")["MODEL_REPOSITORY"].startswith("s3://")
    assert "$(MODEL_REPOSITORY)" in fetch["command"]
    assert config_map_data(resources, "aquaflow-triton")["TRITON_INSTANCE_KIND"] == "KIND_GPU"


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("sed") is None, reason="needs sh and sed")
def test_instance_kind_step_turns_the_repository_to_the_gpu(resources: list[Resource], tmp_path: Path) -> None:
    """The init container's script, run on a copy of model_repository/: every model gets KIND_GPU."""
    pod = named(resources, "Deployment", "triton")["spec"]["template"]["spec"]
    step = next(c for c in pod["initContainers"] if c["name"] == "instance-kind")
    script = step["command"][-1].replace("/models/", f"{tmp_path}/")
    for config in (ROOT / "model_repository").glob("*/config.pbtxt"):
        (tmp_path / config.parent.name).mkdir()
        shutil.copy(config, tmp_path / config.parent.name / "config.pbtxt")
    kind = config_map_data(resources, "aquaflow-triton")["TRITON_INSTANCE_KIND"]
    subprocess.run(
        [*step["command"][:-1], script], env={"TRITON_INSTANCE_KIND": kind, "PATH": "/usr/bin:/bin"}, check=True
    )
    rewritten = [p.read_text() for p in tmp_path.glob("*/config.pbtxt")]
    assert len(rewritten) == 3
    for text in rewritten:
        assert "kind: KIND_GPU" in text
        assert "KIND_CPU" not in text


def test_overlay_sets_namespace_and_restricted_pod_security(resources: list[Resource]) -> None:
    namespace = named(resources, "Namespace", "aquaflow")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == "aquaflow", resource["metadata"]["name"]
    # The restricted standard: what each pod and container must say.
    for deployment in of_kind(resources, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(deployment):
            context: dict[str, Any] = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}


def test_results_api_tokens_cover_every_tenant(resources: list[Resource]) -> None:
    ingest = next(c for c in service_containers(resources) if c.command == "aquaflow-ingest")
    results = next(c for c in service_containers(resources) if c.command == "aquaflow-results")
    tenants = set(json.loads(environment(resources, ingest.container)["AQUAFLOW_INGEST_BUCKETS"]).values())
    tokens = json.loads(environment(resources, results.container)["AQUAFLOW_RESULTS_API_TOKENS"])
    assert set(tokens) == tenants
