"""Whether a Docker engine answers, and the containers the harness starts on one.

Servers for tests and the native stack are chosen in the same order everywhere: a
server named by an environment variable, else the genuine server in a container
when Docker answers, else one that runs without Docker. The engine check must be
cheap, because it runs on every machine, most of which have no Docker at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_SOCKET = Path("/var/run/docker.sock")
PING_TIMEOUT_SECONDS = 3


def docker_answers() -> bool:
    """Whether a Docker engine is reachable, decided without waiting on a missing one."""
    host = os.environ.get("DOCKER_HOST", "")
    # No DOCKER_HOST and no socket: no engine, and no client to import or time out.
    if not host and not DOCKER_SOCKET.exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=PING_TIMEOUT_SECONDS)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means: no usable engine, fall back
        return False


@dataclass
class StartedContainer:
    """A container the harness started: where its port is published, and how to remove it."""

    host: str
    # Container port → the host port Docker published it on.
    ports: dict[int, int]
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()


def start_container(
    image: str,
    *,
    ports: tuple[int, ...],
    env: dict[str, str],
    command: str | None = None,
    wait_for_log: str | None = None,
    wait_for_http: tuple[int, str] | None = None,
    startup_timeout_seconds: int = 120,
) -> StartedContainer:
    """Start ``image`` through testcontainers and wait until it serves.

    Readiness is a log line (``wait_for_log``, a regular expression) or an HTTP path
    answering 200 (``wait_for_http``: container port and path). testcontainers' Ryuk
    removes the container if this process dies without calling ``stop``.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy, LogMessageWaitStrategy, WaitStrategy

    container: Any = DockerContainer(image).with_exposed_ports(*ports)
    for key, value in env.items():
        container.with_env(key, value)
    if command is not None:
        container.with_command(command)
    strategy: WaitStrategy | None = None
    if wait_for_log is not None:
        strategy = LogMessageWaitStrategy(wait_for_log)
    elif wait_for_http is not None:
        strategy = HttpWaitStrategy(*wait_for_http)
    if strategy is not None:
        container.waiting_for(strategy.with_startup_timeout(startup_timeout_seconds))
    try:
        container.start()
        published = {port: int(container.get_exposed_port(port)) for port in ports}
        host = str(container.get_container_host_ip())
    except BaseException:
        # A container that never became ready is removed now, not left to Ryuk.
        container.stop()
        raise
    return StartedContainer(host=host, ports=published, _stop=container.stop)
