"""The routing table: pure domain logic, no I/O.

Rules are tried in order; the first whose every condition holds picks the
pipeline profile and the model. A condition left out matches anything.
"""

from __future__ import annotations

import posixpath
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aquaflow_shared.contracts import ObjectRef

Segment = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]

# Objects with these names are sample manifests (docs/samples.md), not images.
DEFAULT_MANIFEST_NAMES = ("sample.json", "sample.tsv")
_UNSAFE_IN_SAMPLE_ID = re.compile(r"[^A-Za-z0-9_.+-]+")
MAX_SAMPLE_ID = 128


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


def safe_sample_id(raw: str) -> str | None:
    """A sample id usable in object keys and EcoTaxa file names, or None if nothing is left.

    Characters outside letters, digits and ``_.+-`` become ``-``, so ``st 7/a`` and
    ``st-7-a`` name the same sample: sample names are for people, and people do not
    tell those apart either.
    """
    cleaned = _UNSAFE_IN_SAMPLE_ID.sub("-", raw.strip()).strip("-.+")
    return cleaned[:MAX_SAMPLE_ID] or None


class SampleRule(BaseModel):
    """How an upload maps to its sample (a ZooScan scan, a FlowCam run, a UVP cast).

    - ``from: key`` with ``pattern``: a key template where ``{sample}`` captures one path
      segment, ``*`` matches within a segment and ``**`` across segments, e.g.
      ``"{sample}/**"`` or ``"runs/{sample}/*.png"``.
    - ``from: metadata``: the object's user metadata ``field`` (default ``sample``).
    - ``from: object``: the upload itself is the sample (a ZooScan scan), named by its file stem.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: Literal["key", "metadata", "object"] = Field(alias="from")
    pattern: str | None = None
    field: str = "sample"

    @model_validator(mode="after")
    def _pattern_for_keys(self) -> SampleRule:
        if self.source == "key" and (self.pattern is None or "{sample}" not in self.pattern):
            raise ValueError("a sample taken from the key needs a pattern with a {sample} placeholder")
        return self

    @cached_property
    def _key_regex(self) -> re.Pattern[str]:
        assert self.pattern is not None
        parts = re.split(r"(\{sample\}|\*\*|\*)", self.pattern)
        wanted = {"{sample}": "(?P<sample>[^/]+)", "**": ".*", "*": "[^/]*"}
        return re.compile("".join(wanted.get(p, re.escape(p)) for p in parts))

    def sample_of(self, obj: ObjectRef) -> str | None:
        if self.source == "object":
            return safe_sample_id(posixpath.splitext(posixpath.basename(obj.key))[0])
        if self.source == "metadata":
            lowered = {k.lower(): v for k, v in obj.metadata.items()}
            value = lowered.get(self.field.lower())
            return safe_sample_id(value) if value else None
        found = self._key_regex.fullmatch(obj.key)
        return safe_sample_id(found["sample"]) if found else None


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    profile: Segment
    model: Segment
    sample: SampleRule | None = None


class RoutingTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...] = Field(min_length=1)
    manifest_names: tuple[str, ...] = DEFAULT_MANIFEST_NAMES

    def route(self, obj: ObjectRef) -> Rule | None:
        return next((rule for rule in self.rules if rule.match.accepts(obj)), None)

    def is_manifest(self, obj: ObjectRef) -> bool:
        name = posixpath.basename(obj.key).lower()
        return name in {n.lower() for n in self.manifest_names}

    @property
    def models(self) -> frozenset[str]:
        return frozenset(rule.model for rule in self.rules)
