"""The faults of a fault run, each a coroutine on a schedule, each written to a log.

Services are killed with SIGKILL and started again; Triton is stopped and later
started afresh behind its proxy; S3 is cut at its proxy; MongoDB is killed and
started again on its data; RabbitMQ's application is stopped and started.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from aquaflow_devstack.stack import NativeStack


@dataclass
class FaultLog:
    began: float = field(default_factory=time.monotonic)
    entries: list[dict[str, Any]] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)

    def record(self, fault: str, started: float, detail: str = "") -> None:
        self.entries.append(
            {
                "fault": fault,
                "at_s": round(started - self.began, 1),
                "lasted_s": round(time.monotonic() - started, 1),
                "detail": detail,
            }
        )


@dataclass(frozen=True)
class Schedule:
    kill_rounds: int = 5
    kill_every_seconds: float = 12.0
    triton_after_seconds: float = 20.0
    triton_down_seconds: float = 300.0
    s3_after_seconds: float = 45.0
    s3_down_seconds: float = 60.0
    mongo_after_seconds: float = 130.0
    mongo_down_seconds: float = 10.0
    rabbit_after_seconds: float = 170.0
    rabbit_down_seconds: float = 5.0


class Faults:
    def __init__(self, stack: NativeStack, schedule: Schedule, log: FaultLog) -> None:
        self._stack = stack
        self._schedule = schedule
        self._log = log

    async def run(self) -> None:
        await asyncio.gather(
            self.kill_services(),
            self.triton_outage(),
            self.s3_outage(),
            self.mongo_crash(),
            self.rabbit_restart(),
        )

    async def kill_services(self) -> None:
        for _ in range(self._schedule.kill_rounds):
            for name in list(self._stack.services):
                await asyncio.sleep(self._schedule.kill_every_seconds / max(len(self._stack.services), 1))
                started = time.monotonic()
                await asyncio.to_thread(self._stack.restart, name, kill=True, wait=False)
                self._log.kills[name] = self._log.kills.get(name, 0) + 1
                self._log.record(f"SIGKILL {name}", started, "started again at once")

    async def triton_outage(self) -> None:
        await asyncio.sleep(self._schedule.triton_after_seconds)
        started = time.monotonic()
        await asyncio.to_thread(self._stack.stop_triton)
        await asyncio.sleep(self._schedule.triton_down_seconds)
        await asyncio.to_thread(self._stack.start_triton_again)
        self._log.record("Triton down", started, "process stopped, a new one started behind the same proxy")

    async def s3_outage(self) -> None:
        await asyncio.sleep(self._schedule.s3_after_seconds)
        proxy = self._stack.s3_proxy
        assert proxy is not None, "the stack must be started with cuttable=True"
        started = time.monotonic()
        proxy.cut()
        await asyncio.sleep(self._schedule.s3_down_seconds)
        proxy.restore()
        self._log.record("S3 unreachable", started, "connections reset, then refused")

    async def mongo_crash(self) -> None:
        await asyncio.sleep(self._schedule.mongo_after_seconds)
        started = time.monotonic()
        await asyncio.to_thread(self._stack.kill_mongo)
        await asyncio.sleep(self._schedule.mongo_down_seconds)
        await asyncio.to_thread(self._stack.start_mongo_again)
        self._log.record("MongoDB killed", started, "SIGKILL, then started again on its data")

    async def rabbit_restart(self) -> None:
        await asyncio.sleep(self._schedule.rabbit_after_seconds)
        started = time.monotonic()
        await asyncio.to_thread(_rabbitmqctl, "stop_app")
        await asyncio.sleep(self._schedule.rabbit_down_seconds)
        await asyncio.to_thread(_rabbitmqctl, "start_app")
        await asyncio.to_thread(_rabbitmqctl, "await_startup")
        self._log.record("RabbitMQ restarted", started, "rabbitmqctl stop_app / start_app: every connection dropped")


def _rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)
