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

    from aquaflow_shared.topology import Topology

    topology = Topology(prefix=prefix)
    queues = [topology.ingest_queue(), topology.router_queue(), topology.results_queue(), topology.dead_letter_queue]
    queues += [topology.inference_queue(model) for model in models]
    connection = await aio_pika.connect(url)
    async with connection:
        for name in [q.name for q in queues]:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
        for exchange in (topology.events.name, topology.dead_letters.name):
            channel = await connection.channel()
            await channel.exchange_delete(exchange)
            await channel.close()
