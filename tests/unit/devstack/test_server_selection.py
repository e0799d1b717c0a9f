"""Which RabbitMQ and S3 server the harness picks: the environment, the machine, a container, a fallback.

Only the choosing is faked here: the Docker check and the container start are
replaced, so the container branches are exercised on machines without Docker.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aquaflow_devstack import docker, mongo, rabbitmq, s3
from aquaflow_devstack.docker import StartedContainer
from aquaflow_devstack.ports import free_port


@dataclass
class FakeContainerStarts:
    """Stands in for ``docker.start_container``: records what was asked, publishes one port."""

    host: str = "docker-host"
    published_port: int = 32768
    fail_with: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    stopped: int = 0

    def __call__(self, image: str, **options: Any) -> StartedContainer:
        self.calls.append({"image": image, **options})
        if self.fail_with is not None:
            raise self.fail_with
        ports = {port: self.published_port for port in options["ports"]}
        return StartedContainer(host=self.host, ports=ports, _stop=self._stop)

    def _stop(self) -> None:
        self.stopped += 1


def _never(*_: object, **__: object) -> Any:
    raise AssertionError("this branch must not be consulted")


@pytest.fixture
def containers(monkeypatch: pytest.MonkeyPatch) -> FakeContainerStarts:
    fake = FakeContainerStarts()
    monkeypatch.setattr(docker, "start_container", fake)
    return fake


@pytest.fixture(autouse=True)
def _no_server_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (rabbitmq.BROKER_URL_ENV, s3.S3_URL_ENV, s3.S3_ACCESS_KEY_ENV, s3.S3_SECRET_KEY_ENV):
        monkeypatch.delenv(name, raising=False)


def _docker(monkeypatch: pytest.MonkeyPatch, answers: bool) -> None:
    monkeypatch.setattr(docker, "docker_answers", lambda: answers)


def _local_rabbitmq(monkeypatch: pytest.MonkeyPatch, *, listening: bool, installed: bool) -> None:
    monkeypatch.setattr(rabbitmq, "port_open", lambda host, port: listening)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/sbin/rabbitmq-server" if installed else None)


# --- the Docker check -------------------------------------------------------------------------


def test_no_socket_and_no_docker_host_means_no_engine_without_asking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker, "DOCKER_SOCKET", tmp_path / "absent.sock")
    import docker as docker_sdk

    monkeypatch.setattr(docker_sdk, "from_env", _never)
    assert docker.docker_answers() is False


def test_an_engine_that_does_not_answer_is_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    assert docker.docker_answers() is False


def test_mongodb_uses_the_same_docker_check() -> None:
    assert vars(mongo)["docker_answers"] is docker.docker_answers


# --- RabbitMQ ---------------------------------------------------------------------------------


def test_the_broker_named_by_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rabbitmq.BROKER_URL_ENV, "amqp://u:p@broker.example:5672/")
    monkeypatch.setattr(rabbitmq, "port_open", _never)
    monkeypatch.setattr(docker, "docker_answers", _never)
    broker = rabbitmq.start_rabbitmq()
    assert broker.url == "amqp://u:p@broker.example:5672/"
    assert broker.kind == rabbitmq.BROKER_URL_ENV
    assert "AQUAFLOW_TEST_BROKER_URL" in rabbitmq.which_rabbitmq()


def test_the_machines_broker_comes_before_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    _local_rabbitmq(monkeypatch, listening=True, installed=False)
    monkeypatch.setattr(docker, "docker_answers", _never)
    broker = rabbitmq.start_rabbitmq()
    assert broker.url == rabbitmq.DEFAULT_URL
    assert "machine's RabbitMQ" in broker.kind
    broker.stop()  # a broker found running is left running: nothing to call


def test_without_a_local_broker_a_container_is_started_when_docker_answers(
    monkeypatch: pytest.MonkeyPatch, containers: FakeContainerStarts
) -> None:
    _local_rabbitmq(monkeypatch, listening=False, installed=False)
    _docker(monkeypatch, True)
    assert rabbitmq.which_rabbitmq() == f"testcontainers {rabbitmq.RABBITMQ_IMAGE}"
    broker = rabbitmq.start_rabbitmq()
    (call,) = containers.calls
    assert call["image"] == rabbitmq.RABBITMQ_IMAGE
    assert call["ports"] == (5672,)
    # Not "guest": RabbitMQ accepts it from loopback only, and the container's clients are not.
    assert call["env"]["RABBITMQ_DEFAULT_USER"] != "guest"
    assert broker.url == f"amqp://{rabbitmq.CONTAINER_USER}:{rabbitmq.CONTAINER_PASSWORD}@docker-host:32768/"
    assert broker.kind == f"testcontainers {rabbitmq.RABBITMQ_IMAGE}"
    broker.stop()
    assert containers.stopped == 1


def test_a_local_broker_that_will_not_start_gives_way_to_a_container(
    monkeypatch: pytest.MonkeyPatch, containers: FakeContainerStarts
) -> None:
    _local_rabbitmq(monkeypatch, listening=False, installed=True)
    _docker(monkeypatch, True)

    def refuse(url: str) -> str:
        raise rabbitmq.RabbitUnavailable("did not start listening")

    monkeypatch.setattr(rabbitmq, "ensure_rabbitmq", refuse)
    broker = rabbitmq.start_rabbitmq()
    assert broker.kind == f"testcontainers {rabbitmq.RABBITMQ_IMAGE}"


def test_no_broker_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _local_rabbitmq(monkeypatch, listening=False, installed=False)
    _docker(monkeypatch, False)
    with pytest.raises(rabbitmq.RabbitUnavailable, match="AQUAFLOW_TEST_BROKER_URL is unset"):
        rabbitmq.start_rabbitmq()
    assert rabbitmq.which_rabbitmq().startswith("none found")


def test_a_container_that_does_not_start_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, containers: FakeContainerStarts
) -> None:
    _local_rabbitmq(monkeypatch, listening=False, installed=False)
    _docker(monkeypatch, True)
    containers.fail_with = TimeoutError("no startup line")
    with pytest.raises(rabbitmq.RabbitUnavailable, match="did not start: no startup line"):
        rabbitmq.start_rabbitmq()


# --- S3 ---------------------------------------------------------------------------------------


def test_the_s3_server_named_by_the_environment_wins_with_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(s3.S3_URL_ENV, "http://s3.example:9000")
    monkeypatch.setenv(s3.S3_ACCESS_KEY_ENV, "named-key")
    monkeypatch.setenv(s3.S3_SECRET_KEY_ENV, "named-secret")
    monkeypatch.setattr(docker, "docker_answers", _never)
    server = s3.start_s3()
    assert (server.endpoint_url, server.kind) == ("http://s3.example:9000", s3.S3_URL_ENV)
    assert (server.access_key, server.secret_key) == ("named-key", "named-secret")
    credentials = server.client()._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("named-key", "named-secret")


def test_without_docker_moto_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    _docker(monkeypatch, False)
    assert s3.which_s3().startswith("moto")
    server = s3.start_s3()
    try:
        assert server.kind == "moto's ThreadedMotoServer"
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        server.client().create_bucket(Bucket="selection")
        # moto keeps one store per process: other tests' buckets may be listed too.
        assert "selection" in [b["Name"] for b in server.client().list_buckets()["Buckets"]]
    finally:
        server.stop()


def test_with_docker_a_pinned_minio_image_from_quay_is_started(
    monkeypatch: pytest.MonkeyPatch, containers: FakeContainerStarts
) -> None:
    _docker(monkeypatch, True)
    monkeypatch.setattr(s3, "start_moto", _never)
    server = s3.start_s3()
    (call,) = containers.calls
    # Docker Hub no longer has MinIO's community images; a moving tag would change under the tests.
    assert call["image"].startswith("quay.io/minio/minio:RELEASE.")
    assert call["ports"] == (9000,)
    # The container gets the keys moto accepts, so ACCESS_KEY/SECRET_KEY hold for either server.
    assert (call["env"]["MINIO_ROOT_USER"], call["env"]["MINIO_ROOT_PASSWORD"]) == (s3.ACCESS_KEY, s3.SECRET_KEY)
    assert len(s3.SECRET_KEY) >= 8  # MinIO refuses shorter root passwords
    assert call["wait_for_http"] == (9000, "/minio/health/live")
    assert server.endpoint_url == "http://docker-host:32768"
    assert (server.access_key, server.secret_key) == (s3.ACCESS_KEY, s3.SECRET_KEY)
    assert server.kind == f"testcontainers {s3.MINIO_IMAGE}"
    server.stop()
    assert containers.stopped == 1


def test_a_minio_container_that_cannot_start_falls_back_to_moto_and_says_why(
    monkeypatch: pytest.MonkeyPatch, containers: FakeContainerStarts
) -> None:
    _docker(monkeypatch, True)
    containers.fail_with = RuntimeError("pull access denied")
    monkeypatch.setattr(s3, "start_moto", lambda port=None: s3.S3Server(endpoint_url="http://127.0.0.1:1", kind="moto"))
    server = s3.start_s3()
    assert server.endpoint_url == "http://127.0.0.1:1"
    assert server.kind.startswith("moto, as ")
    assert "pull access denied" in server.kind
