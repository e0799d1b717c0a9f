"""A RabbitMQ broker for tests and the native stack, the most genuine one available.

In order: the broker ``AQUAFLOW_TEST_BROKER_URL`` names (nothing is started); the
machine's own RabbitMQ on 127.0.0.1:5672, started if installed but stopped; the
official ``rabbitmq`` image through testcontainers when a Docker engine answers.
With none of these there is no broker to test against, and that is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aquaflow_devstack import docker
from aquaflow_devstack.ports import port_open

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
BROKER_URL_ENV = "AQUAFLOW_TEST_BROKER_URL"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5672
# The release line compose runs; the management image is the one operators know.
RABBITMQ_IMAGE = "rabbitmq:3.13-management"
# RabbitMQ refuses "guest" from anywhere but loopback, and a container's clients are not.
CONTAINER_USER = "aquaflow"
CONTAINER_PASSWORD = "aquaflow"  # noqa: S105 - a throwaway broker in a test container
AMQP_PORT = 5672


class RabbitUnavailable(RuntimeError):
    """No RabbitMQ broker could be found or started."""


@dataclass
class RabbitServer:
    url: str
    # Which broker this is, for a test-run header or a log line.
    kind: str
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def stop(self) -> None:
        """Remove a container started here; a broker found running is left running."""
        self._stop()


def start_rabbitmq() -> RabbitServer:
    """Find or start a RabbitMQ broker (see the module's docstring for the order)."""
    url = os.environ.get(BROKER_URL_ENV)
    if url:
        return RabbitServer(url=url, kind=BROKER_URL_ENV)
    local_failure = "rabbitmq-server is not installed"
    if local_rabbitmq_available():
        try:
            url = ensure_rabbitmq(DEFAULT_URL)
        except (RabbitUnavailable, subprocess.CalledProcessError, OSError) as error:
            # Installed but it would not start here (rights, a broken node): a container may still serve.
            local_failure = f"the machine's RabbitMQ did not start ({error})"
        else:
            return RabbitServer(url=url, kind=f"the machine's RabbitMQ on {LOCAL_HOST}:{LOCAL_PORT}")
    if docker.docker_answers():
        return start_container()
    raise RabbitUnavailable(
        f"no RabbitMQ: {BROKER_URL_ENV} is unset, nothing answers on {LOCAL_HOST}:{LOCAL_PORT}, "
        f"{local_failure}, and no Docker engine answers for a container"
    )


def which_rabbitmq() -> str:
    """Which broker ``start_rabbitmq`` would use, said without starting anything."""
    if os.environ.get(BROKER_URL_ENV):
        return f"the broker at {BROKER_URL_ENV}"
    if port_open(LOCAL_HOST, LOCAL_PORT):
        return f"the machine's RabbitMQ on {LOCAL_HOST}:{LOCAL_PORT}"
    if shutil.which("rabbitmq-server"):
        return f"the machine's RabbitMQ, started on {LOCAL_HOST}:{LOCAL_PORT}"
    if docker.docker_answers():
        return f"testcontainers {RABBITMQ_IMAGE}"
    return "none found (no broker URL, no local RabbitMQ, no Docker engine)"


def local_rabbitmq_available() -> bool:
    """Whether the machine's RabbitMQ answers, or is installed and so can be started."""
    return port_open(LOCAL_HOST, LOCAL_PORT) or shutil.which("rabbitmq-server") is not None


def start_container() -> RabbitServer:
    """The official image on a published port, ready once the node says its startup completed."""
    try:
        container = docker.start_container(
            RABBITMQ_IMAGE,
            ports=(AMQP_PORT,),
            env={"RABBITMQ_DEFAULT_USER": CONTAINER_USER, "RABBITMQ_DEFAULT_PASS": CONTAINER_PASSWORD},
            # Logged once every listener and plugin is up, so AMQP connections succeed from here on.
            wait_for_log=r"Server startup complete",
        )
    except Exception as error:
        raise RabbitUnavailable(f"the {RABBITMQ_IMAGE} container did not start: {error}") from error
    url = f"amqp://{CONTAINER_USER}:{CONTAINER_PASSWORD}@{container.host}:{container.ports[AMQP_PORT]}/"
    return RabbitServer(url=url, kind=f"testcontainers {RABBITMQ_IMAGE}", _stop=container.stop)


def ensure_rabbitmq(url: str = DEFAULT_URL, timeout: float = 60.0) -> str:
    """The machine's own RabbitMQ: found on its port, started if installed but stopped."""
    if port_open(LOCAL_HOST, LOCAL_PORT):
        return url
    server = shutil.which("rabbitmq-server")
    if server is None:
        raise RabbitUnavailable(
            f"RabbitMQ is not reachable on {LOCAL_HOST}:{LOCAL_PORT} and rabbitmq-server is not installed"
        )
    subprocess.run([server, "-detached"], check=True)
    deadline = time.monotonic() + timeout
    while not port_open(LOCAL_HOST, LOCAL_PORT):
        if time.monotonic() > deadline:
            raise RabbitUnavailable(f"RabbitMQ did not start listening on {LOCAL_PORT} within {timeout}s")
        time.sleep(0.5)
    return url


async def delete_topology(url: str, prefix: str, models: tuple[str, ...], extra_stages: tuple[str, ...] = ()) -> None:
    """Delete every queue and exchange a stack with this prefix declared (and those of ``extra_stages``)."""
    import aio_pika

    from aquaflow_shared.topology import UNROUTABLE_STAGE, Topology

    topology = Topology(prefix=prefix)
    stages = [
        "ingest",
        "ingest.batch",
        "router",
        "results",
        "results.samples",
        "results.failures",
        "results.dead-letters",
        UNROUTABLE_STAGE,
    ]
    stages += [f"inference.{model}" for model in models]
    stages += extra_stages
    names = [topology.dead_letter_queue.name]
    names += [name for stage in stages for name in (topology.work_queue_name(stage), topology.retry_queue(stage).name)]
    connection = await aio_pika.connect(url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
        exchanges = (topology.events, topology.notifications, topology.unroutable, topology.dead_letters)
        for exchange in (e.name for e in exchanges):
            channel = await connection.channel()
            await channel.exchange_delete(exchange)
            await channel.close()
