"""A downstream subscriber to aquaflow's result events that acts on each result once.

aquaflow publishes ``result.<profile>.<tenant>`` events at least once: after a broker
restart or a crash between storing and confirming, the same event (same
``message_id``) can arrive twice. A consumer that must act once records the
``message_id`` in the same transaction as its own effect, and skips ids it has
recorded. Here the effect is a row in a local SQLite table.

    python examples/result_subscriber.py --url amqp://guest:guest@127.0.0.1:5672/ \\
        --exchange aquaflow.events --binding 'result.zooscan.*' --db results.sqlite

Uses only aio-pika and the standard library: a downstream tool needs nothing of aquaflow's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from pathlib import Path

import aio_pika

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT, tenant TEXT, profile TEXT, bucket TEXT, key TEXT, sample_id TEXT, summary TEXT
);
"""


class ResultLedger:
    """Applies each result event to a local table exactly once, whatever the redeliveries."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.executescript(SCHEMA)

    def apply(self, message_id: str, event: dict[str, object]) -> bool:
        """Record the event; False when this ``message_id`` was applied before."""
        obj = event["object"]
        assert isinstance(obj, dict)
        with self._db:  # one transaction: the id and the effect are kept together or not at all
            inserted = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (message_id,)).rowcount
            if not inserted:
                return False
            self._db.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event["result_id"],
                    event["tenant"],
                    event["profile"],
                    obj["bucket"],
                    obj["key"],
                    event.get("sample_id"),
                    json.dumps(event.get("summary", {})),
                ),
            )
        return True

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        self._db.close()


async def subscribe(url: str, exchange: str, binding: str, queue_name: str, ledger: ResultLedger) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=32)
        events = await channel.get_exchange(exchange, ensure=True)
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(events, binding)
        async with queue.iterator() as messages:
            async for message in messages:
                event = json.loads(message.body)
                applied = ledger.apply(message.message_id or event["message_id"], event)
                print(("applied " if applied else "duplicate ") + event["result_id"], flush=True)
                await message.ack()  # after the effect is committed: a crash before this redelivers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--exchange", default="aquaflow.events")
    parser.add_argument("--binding", default="result.#")
    parser.add_argument("--queue", default="my-tool.results")
    parser.add_argument("--db", type=Path, default=Path("results.sqlite"))
    args = parser.parse_args()
    ledger = ResultLedger(args.db)
    try:
        asyncio.run(subscribe(args.url, args.exchange, args.binding, args.queue, ledger))
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
