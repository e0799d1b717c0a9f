"""The routing table: pure domain logic, no I/O.

Rules are tried in order; the first whose every condition holds picks the
pipeline profile and the model. A condition left out matches anything.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from aquaflow_shared.contracts import ObjectRef

Segment = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Match(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str | None = None
    prefix: str | None = None
    # Any of these endings, compared case-insensitively (".JPG" is a JPEG too).
    suffixes: tuple[str, ...] = ()
    # Object user metadata that must be present with exactly these values.
    metadata: dict[str, str] = Field(default_factory=dict)

    def accepts(self, obj: ObjectRef) -> bool:
        if self.bucket is not None and obj.bucket != self.bucket:
            return False
        if self.prefix is not None and not obj.key.startswith(self.prefix):
            return False
        if self.suffixes and not obj.key.lower().endswith(tuple(s.lower() for s in self.suffixes)):
            return False
        lowered = {k.lower(): v for k, v in obj.metadata.items()}
        return all(lowered.get(k.lower()) == v for k, v in self.metadata.items())


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    profile: Segment
    model: Segment


class RoutingTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...] = Field(min_length=1)

    def route(self, obj: ObjectRef) -> Rule | None:
        return next((rule for rule in self.rules if rule.match.accepts(obj)), None)

    @property
    def models(self) -> frozenset[str]:
        return frozenset(rule.model for rule in self.rules)
