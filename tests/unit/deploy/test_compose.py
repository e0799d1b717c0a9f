"""docker-compose.yml stays valid and in step with the code, checked without Docker."""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from aquaflow_shared.settings import env_names
from aquaflow_shared.topology import S3_NOTIFICATION, Topology

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "data" / "schemas" / "compose-spec.json"

# `${NAME:-default}` or `${NAME}` in a compose value: what `docker compose` substitutes.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")
# An environment entry left commented out in docker-compose.yml, as a documented option.
COMMENTED_SETTING = re.compile(r"^\s*#\s*(?P<name>AQUAFLOW_[A-Z0-9_]+):", re.MULTILINE)
# Environment names that hold a secret; their values in compose must be marked placeholders.
SECRET_NAME = re.compile(r"PASSWORD|_PASS$|TOKEN|SECRET")
PLACEHOLDER = "change-me"

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


def settings_class(svc: dict[str, Any]) -> Any:
    module, cls = SETTINGS_OF_COMMAND[svc["command"][0]].split(":")
    return getattr(importlib.import_module(module), cls)


def interpolated(value: str) -> str:
    """A compose value as `docker compose up` sees it with no .env file: every default taken."""
    return INTERPOLATION.sub(lambda m: m.group("default") or "", str(value)).replace("$$", "$")


def env_of(compose: dict[str, Any], service: str) -> dict[str, str]:
    return {key: interpolated(value) for key, value in compose["services"][service]["environment"].items()}


def inference_workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in aquaflow_services(compose).items() if svc["command"][0] == "aquaflow-inference"}


def test_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"compose schema not found at {SCHEMA}")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_runs_the_whole_stack_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for required in (
        "rabbitmq",
        "s3",
        "s3-setup",
        "redis",
        "mongo",
        "triton",
        "prometheus",
        "grafana",
        "results",
        "router",
        "ingest",
    ):
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
        settings_cls = settings_class(svc)
        unknown = set(svc["environment"]) - env_names(settings_cls)
        assert not unknown, f"{name} sets {sorted(unknown)}, which {settings_cls.__name__} does not read"


def test_every_service_accepts_its_compose_environment(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values parse and pass each settings class's own checks, as the containers will load them."""
    import os

    for name, svc in aquaflow_services(compose).items():
        with monkeypatch.context() as env:
            for inherited in [key for key in os.environ if key.startswith("AQUAFLOW_")]:
                env.delenv(inherited)
            for key, value in env_of(compose, name).items():
                env.setenv(key, value)
            settings_class(svc)()


def test_settings_left_commented_out_are_ones_a_service_reads() -> None:
    """Options documented as comments (the EcoTaxa URL) name settings that exist."""
    known: set[str] = set()
    for target in SETTINGS_OF_COMMAND.values():
        module, cls = target.split(":")
        known |= env_names(getattr(importlib.import_module(module), cls))
    commented = set(COMMENTED_SETTING.findall((ROOT / "docker-compose.yml").read_text()))
    assert "AQUAFLOW_ECOTAXA_URL" in commented
    assert not commented - known, sorted(commented - known)


def test_secrets_are_placeholders_marked_to_change(compose: dict[str, Any]) -> None:
    secrets = {
        (service, key): str(value)
        for service, svc in compose["services"].items()
        for key, value in (svc.get("environment") or {}).items()
        if SECRET_NAME.search(key)
    }
    assert ("results", "AQUAFLOW_RESULTS_API_TOKENS") in secrets
    assert ("ingest", "AQUAFLOW_INGEST_WEBHOOK_AUTH_TOKEN") in secrets
    for (service, key), value in secrets.items():
        assert PLACEHOLDER in value, f"{service}: {key} is not a marked placeholder"
    tokens = json.loads(env_of(compose, "results")["AQUAFLOW_RESULTS_API_TOKENS"])
    assert tokens
    assert all(token.startswith(PLACEHOLDER) for token in tokens.values())
    tenants = json.loads(env_of(compose, "ingest")["AQUAFLOW_INGEST_BUCKETS"]).values()
    assert set(tokens) == set(tenants), "every tenant needs a results API token"


def test_console_scripts_exist(compose: dict[str, Any]) -> None:
    scripts: set[str] = set()
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    for svc in aquaflow_services(compose).values():
        assert svc["command"][0] in scripts


def test_s3_server_publishes_into_the_notifications_exchange(compose: dict[str, Any]) -> None:
    env = env_of(compose, "s3")
    topology = Topology(prefix=compose["x-broker-env"]["AQUAFLOW_BROKER_PREFIX"])
    assert compose["services"]["s3"]["image"].startswith("rustfs/rustfs:")
    assert env["RUSTFS_NOTIFY_ENABLE"] == "true"
    # Every setting of a target carries the target's identifier; the setup script's ARN names it.
    assert env["RUSTFS_NOTIFY_AMQP_ENABLE_AQUAFLOW"] == "on"
    assert env["RUSTFS_NOTIFY_AMQP_EXCHANGE_AQUAFLOW"] == topology.notifications.name
    assert env["RUSTFS_NOTIFY_AMQP_ROUTING_KEY_AQUAFLOW"] == S3_NOTIFICATION
    assert env["RUSTFS_NOTIFY_AMQP_PERSISTENT_AQUAFLOW"] == "on"
    assert env["RUSTFS_NOTIFY_AMQP_QUEUE_DIR_AQUAFLOW"].startswith("/data/")
    # The same broker and credentials as the services.
    broker_url = interpolated(compose["x-broker-env"]["AQUAFLOW_BROKER_URL"])
    assert env["RUSTFS_NOTIFY_AMQP_URL_AQUAFLOW"].rstrip("/") == broker_url.rstrip("/")
    targets = [key for key in env if key.startswith(("RUSTFS_NOTIFY_AMQP_", "RUSTFS_NOTIFY_WEBHOOK_"))]
    assert all(key.endswith("_AQUAFLOW") for key in targets), "settings of another target than AQUAFLOW"
    # The notification queues live beside the objects, on the volume, not inside the store.
    assert not env["RUSTFS_NOTIFY_AMQP_QUEUE_DIR_AQUAFLOW"].startswith(env["RUSTFS_VOLUMES"])


def test_s3_server_credentials_are_the_services(compose: dict[str, Any]) -> None:
    s3, setup = env_of(compose, "s3"), env_of(compose, "s3-setup")
    for service in ("ingest", "results", *inference_workers(compose)):
        env = env_of(compose, service)
        assert urlsplit(env["AQUAFLOW_S3_ENDPOINT_URL"]).hostname == "s3"
        assert env["AQUAFLOW_S3_ACCESS_KEY_ID"] == s3["RUSTFS_ACCESS_KEY"] == setup["AWS_ACCESS_KEY_ID"]
        assert env["AQUAFLOW_S3_SECRET_ACCESS_KEY"] == s3["RUSTFS_SECRET_KEY"] == setup["AWS_SECRET_ACCESS_KEY"]
    assert urlsplit(setup["S3_SETUP_ENDPOINT"]).hostname == "s3"


def test_s3_webhook_target_reaches_ingest_with_its_token(compose: dict[str, Any]) -> None:
    from aquaflow_ingest.webhook import PATH

    s3, ingest = env_of(compose, "s3"), env_of(compose, "ingest")
    endpoint = urlsplit(s3["RUSTFS_NOTIFY_WEBHOOK_ENDPOINT_AQUAFLOW"])
    assert (endpoint.hostname, endpoint.port, endpoint.path) == ("ingest", int(ingest["AQUAFLOW_HTTP_PORT"]), PATH)
    assert s3["RUSTFS_NOTIFY_WEBHOOK_AUTH_TOKEN_AQUAFLOW"] == ingest["AQUAFLOW_INGEST_WEBHOOK_AUTH_TOKEN"]
    assert s3["RUSTFS_NOTIFY_WEBHOOK_QUEUE_DIR_AQUAFLOW"].startswith("/data/")
    # RustFS refuses webhook endpoints on private addresses unless their origin is allowed.
    origin = f"{endpoint.scheme}://{endpoint.netloc}"
    assert origin in s3["RUSTFS_OUTBOUND_ALLOW_ORIGINS"].split(",")


def test_s3_setup_creates_the_buckets_and_rules_the_services_expect(compose: dict[str, Any]) -> None:
    setup, s3, ingest = env_of(compose, "s3-setup"), env_of(compose, "s3"), env_of(compose, "ingest")
    watched = set(setup["S3_SETUP_WATCHED_BUCKETS"].split())
    assert watched == set(json.loads(ingest["AQUAFLOW_INGEST_BUCKETS"]))
    assert set(json.loads(ingest["AQUAFLOW_INGEST_RECONCILE_BUCKETS"])) <= watched
    routing = yaml.safe_load((ROOT / "config/routing.yaml").read_text())
    assert {rule["match"]["bucket"] for rule in routing["rules"] if "bucket" in rule["match"]} <= watched
    output = setup["S3_SETUP_OUTPUT_BUCKET"]
    # Inference's writes into the output bucket must not come back as uploads to classify.
    assert output not in watched
    for name in inference_workers(compose):
        assert env_of(compose, name)["AQUAFLOW_INFERENCE_OUTPUT_BUCKET"] == output, name
    # The rule goes to the target that is switched on: AMQP by default, the webhook as alternative.
    target, target_id = setup["S3_SETUP_NOTIFY_TARGET"], setup["S3_SETUP_NOTIFY_TARGET_ID"]
    assert target == "amqp"
    assert s3[f"RUSTFS_NOTIFY_{target.upper()}_ENABLE_{target_id.upper()}"] == "on"
    script = (ROOT / "deploy/s3-setup.sh").read_text()
    for key in setup:
        if key.startswith("S3_SETUP_"):
            assert f"${{{key}" in script, f"s3-setup.sh does not read {key}"
    volume = compose["services"]["s3-setup"]["volumes"][0]
    assert volume.split(":")[0] == "./deploy/s3-setup.sh"
    assert compose["services"]["s3-setup"]["entrypoint"][-1] == volume.split(":")[1]


def test_ingest_keeps_claims_in_redis_and_its_checkpoint_on_a_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ingest = env_of(compose, "ingest")
    redis = urlsplit(ingest["AQUAFLOW_INGEST_DEDUPE_REDIS_URL"])
    assert redis.scheme == "redis"
    assert redis.hostname in services
    assert redis.hostname in services["ingest"]["depends_on"]
    checkpoint = Path(ingest["AQUAFLOW_INGEST_CHECKPOINT_PATH"])
    mounts = {volume.split(":")[1] for volume in services["ingest"]["volumes"]}
    assert str(checkpoint.parent) in mounts
    # The image creates the folder for its unprivileged user, so a new volume is writable.
    assert str(checkpoint.parent) in (ROOT / "deploy/service.Dockerfile").read_text()


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    """No `latest` and no bare name: `docker compose up` pulls what was tested, not what moved."""
    images = {name: svc["image"] for name, svc in compose["services"].items() if "image" in svc}
    assert {"rabbitmq", "s3", "s3-setup", "redis", "mongo", "triton", "prometheus", "grafana"} <= set(images)
    for name, image in images.items():
        reference, _, digest = image.partition("@")
        tag = reference.rpartition(":")[2] if ":" in reference.rpartition("/")[2] else ""
        assert digest or (tag and tag != "latest"), f"{name}: {image} is not pinned"
        assert not image.startswith(("minio/", "quay.io/minio/")), f"{name}: MinIO's images are gone or stale"
    # A version, not a moving series: at least major.minor.patch (Triton's are YY.MM).
    for name in ("rabbitmq", "s3", "redis", "mongo", "prometheus", "grafana", "s3-setup"):
        version = images[name].rpartition(":")[2].lstrip("v").split("-")[0]
        assert version.count(".") == 2, f"{name}: {images[name]}"


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


def test_prometheus_scrapes_rabbitmq_per_queue(compose: dict[str, Any]) -> None:
    assert "rabbitmq_prometheus" in (ROOT / "deploy/rabbitmq/enabled_plugins").read_text()
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    detailed = [job for job in prometheus["scrape_configs"] if job.get("metrics_path") == "/metrics/detailed"]
    assert len(detailed) == 1
    assert "queue_coarse_metrics" in detailed[0]["params"]["family"]
    assert detailed[0]["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    # The dashboard's per-queue panel reads what that job returns.
    dashboards = "".join(path.read_text() for path in (ROOT / "deploy/grafana/dashboards").glob("*.json"))
    assert "rabbitmq_detailed_queue_messages_ready" in dashboards
