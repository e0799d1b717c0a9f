"""Which dead letters a ``dlq`` command acts on: stage, code, tenant, age, id. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from aquaflow_cli.dead_letters import DeadLetterView
from aquaflow_cli.errors import CliError, Exit

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise CliError(f"{text!r} is not an age: write it as 90s, 15m, 2h or 7d", Exit.USAGE)
    return timedelta(seconds=float(found[1]) * _UNITS[found[2]])


def format_age(seconds: float) -> str:
    """The largest whole unit: ``90`` → ``1m``, ``7200`` → ``2h``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def stage_matches(wanted: str, stage: str) -> bool:
    """``inference`` names every model's inference stage; a full name names one."""
    return stage == wanted or stage.startswith(f"{wanted}.")


@dataclass(frozen=True)
class DeadLetterFilter:
    stages: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    # Dead-lettered at least this long ago / at most this long ago.
    older_than: timedelta | None = None
    newer_than: timedelta | None = None
    # Message ids, or the short fingerprints ``dlq list`` shows for letters without one.
    refs: tuple[str, ...] = ()
    key_prefix: str | None = None

    @property
    def is_everything(self) -> bool:
        return self == DeadLetterFilter()

    def matches(self, letter: DeadLetterView, now: datetime) -> bool:
        if self.stages and not any(stage_matches(s, letter.stage) for s in self.stages):
            return False
        if self.codes and letter.code not in self.codes:
            return False
        if self.tenants and letter.tenant not in self.tenants:
            return False
        if self.refs and letter.message_id not in self.refs and letter.fingerprint not in self.refs:
            return False
        if self.key_prefix is not None and not (letter.key or "").startswith(self.key_prefix):
            return False
        return self._age_matches(letter, now)

    def _age_matches(self, letter: DeadLetterView, now: datetime) -> bool:
        if self.older_than is None and self.newer_than is None:
            return True
        age = letter.age_seconds(now)
        if age is None:
            return False  # no time to compare: an age filter leaves it alone
        if self.older_than is not None and age < self.older_than.total_seconds():
            return False
        return self.newer_than is None or age <= self.newer_than.total_seconds()

    def describe(self) -> str:
        parts = [
            *(f"stage {s}" for s in self.stages),
            *(f"code {c}" for c in self.codes),
            *(f"tenant {t}" for t in self.tenants),
            *(f"id {r}" for r in self.refs),
        ]
        if self.key_prefix is not None:
            parts.append(f"key {self.key_prefix}*")
        if self.older_than is not None:
            parts.append(f"older than {format_age(self.older_than.total_seconds())}")
        if self.newer_than is not None:
            parts.append(f"newer than {format_age(self.newer_than.total_seconds())}")
        return ", ".join(parts) or "every dead letter"
