"""The machine's own RabbitMQ: found on its port, started if installed but stopped."""

from __future__ import annotations

import shutil
import subprocess
import time

from aquaflow_devstack.ports import port_open

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


def ensure_rabbitmq(url: str = DEFAULT_URL, timeout: float = 60.0) -> str:
    if port_open("127.0.0.1", 5672):
        return url
    server = shutil.which("rabbitmq-server")
    if server is None:
        raise RuntimeError("RabbitMQ is not reachable on 127.0.0.1:5672 and rabbitmq-server is not installed")
    subprocess.run([server, "-detached"], check=True)
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", 5672):
        if time.monotonic() > deadline:
            raise RuntimeError(f"RabbitMQ did not start listening on 5672 within {timeout}s")
        time.sleep(0.5)
    return url


async def delete_topology(url: str, prefix: str, models: tuple[str, ...]) -> None:
    """Delete every queue and exchange a stack with this prefix declared."""
    import aio_pika

    from aquaflow_shared.topology import UNROUTABLE_STAGE, Topology

    topology = Topology(prefix=prefix)
    stages = ["ingest", "router", "results", "results.samples", "results.failures", UNROUTABLE_STAGE]
    stages += [f"inference.{model}" for model in models]
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
