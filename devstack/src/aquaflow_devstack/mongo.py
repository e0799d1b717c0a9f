"""A MongoDB server for tests and the native stack, the most genuine one available.

In order: the server ``MONGODB_URL`` names (nothing is started); the official
``mongo:8`` image through testcontainers when a Docker engine answers; else
SecantusDB, a MongoDB wire-protocol server in Python on WiredTiger, as a child
process on a free port. SecantusDB is GPL-2.0 and therefore only ever a
development dependency: it runs as its own process and no service imports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aquaflow_devstack.docker import docker_answers
from aquaflow_devstack.ports import free_port, port_open

MONGO_IMAGE = "mongo:8"
READY_TIMEOUT_SECONDS = 30.0


class MongoUnavailable(RuntimeError):
    """No MongoDB server could be found or started."""


@dataclass
class MongoServer:
    url: str
    # Which server this is, for a test-run header or a log line.
    kind: str
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)
    # SIGKILL, for fault runs; servers not started here are only stopped.
    _kill: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        self._stop()

    def kill(self) -> None:
        (self._kill or self._stop)()


def start_mongo(data_dir: Path | None = None) -> MongoServer:
    """Find or start a MongoDB server; ``data_dir`` keeps SecantusDB's data on disk (None: in memory)."""
    url = os.environ.get("MONGODB_URL")
    if url:
        return MongoServer(url=url, kind="MONGODB_URL")
    if docker_answers():
        container = _start_container()
        if container is not None:
            return container
    return start_secantus(data_dir)


def which_server() -> str:
    """Which server ``start_mongo`` would use, said without starting anything."""
    if os.environ.get("MONGODB_URL"):
        return "the server at MONGODB_URL"
    if docker_answers():
        return f"testcontainers {MONGO_IMAGE} (SecantusDB if the container cannot start)"
    return "SecantusDB subprocess (no MONGODB_URL, no Docker engine)"


def _start_container() -> MongoServer | None:
    try:
        from testcontainers.mongodb import MongoDbContainer

        container: Any = MongoDbContainer(MONGO_IMAGE)
        container.start()
    except Exception:  # noqa: BLE001 - an engine that cannot pull or run the image: fall back
        return None
    return MongoServer(url=container.get_connection_url(), kind=f"testcontainers {MONGO_IMAGE}", _stop=container.stop)


def start_secantus(data_dir: Path | None = None, port: int | None = None) -> MongoServer:
    """SecantusDB as a child process (on a free port unless given); stopped with SIGTERM."""
    port = port or free_port()
    storage = ":memory:"
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        storage = str(data_dir)
    executable = Path(sys.executable).with_name("secantusd-py")
    command = [str(executable), "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage]
    if not executable.exists():
        command = [sys.executable, "-m", "secantus", *command[1:]]
    # A file, not a pipe: a server that logs much would block on a pipe nobody reads.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            log.close()
            raise MongoUnavailable(f"SecantusDB exited with {process.returncode}: {error[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            log.close()
            raise MongoUnavailable(f"SecantusDB did not listen on port {port} within {READY_TIMEOUT_SECONDS}s")
        time.sleep(0.05)

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()

    def kill() -> None:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()

    where = "in memory" if data_dir is None else f"data in {data_dir}"
    return MongoServer(
        url=f"mongodb://127.0.0.1:{port}/", kind=f"SecantusDB subprocess ({where})", _stop=stop, _kill=kill
    )
