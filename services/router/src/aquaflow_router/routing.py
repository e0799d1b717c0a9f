"""The routing table: pure domain logic, no I/O.

Rules are tried in order; the first whose every condition holds picks the
pipeline profile and the models to run. A condition left out matches anything.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from aquaflow_shared.contracts import ModelVersion, ObjectRef

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


def _version_text(value: Any) -> Any:
    # YAML reads `version: 3` as a number; a version is a name, compared as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Version = Annotated[ModelVersion, BeforeValidator(_version_text)]


def canary_position(obj: ObjectRef, model: str) -> float:
    """Where an object version falls in [0, 1) for ``model``'s canary: a hash, not a draw.

    The same object version always gets the same position, so a redelivered or replayed
    upload runs the same version as the first time; the model's name is mixed in so that
    the canaries of two models pick independent sets of uploads.
    """
    digest = hashlib.sha256("\x1f".join(("canary", model, *obj.identity)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Canary(BaseModel):
    """A candidate version that gets ``share`` of the uploads (0.1: one in ten)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Version
    share: float = Field(ge=0.0, le=1.0)


class ModelChoice(BaseModel):
    """One model a rule runs: its name, optionally its own profile, a pinned version and a canary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Segment
    # Defaults to the rule's profile; a detector beside a classifier needs its own.
    profile: Segment | None = None
    # None: whatever version the worker serves by default.
    version: Version | None = None
    canary: Canary | None = None

    @model_validator(mode="after")
    def _canary_differs(self) -> ModelChoice:
        if self.canary is not None and self.canary.version == self.version:
            raise ValueError(f"model {self.name}: the canary version is the pinned version {self.version!r}")
        return self

    def version_for(self, obj: ObjectRef) -> str | None:
        """The version this object version runs: the canary's for its share of uploads, else the pinned one."""
        if self.canary is not None and canary_position(obj, self.name) < self.canary.share:
            return self.canary.version
        return self.version

    @property
    def versions(self) -> frozenset[str | None]:
        """Every version this choice can run (None: the worker's default)."""
        return frozenset({self.version, *([self.canary.version] if self.canary else [])})


@dataclass(frozen=True)
class ModelRun:
    """One inference an upload gets: which model, at which version, as which profile."""

    model: str
    profile: str
    version: str | None
    # The rule's first model: the sample's completion and EcoTaxa push follow its results.
    primary: bool


class Rule(BaseModel):
    """A routing rule. ``model: <name>`` (with ``version`` and ``canary`` beside it) is short for
    ``models: [{name: <name>, version: …, canary: …}]``; the first model listed is the primary one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    profile: Segment | None = None
    models: tuple[ModelChoice, ...] = Field(min_length=1)
    sample: SampleRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_model_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        single = {k: data[k] for k in ("model", "version", "canary") if k in data}
        if not single:
            return data
        if "models" in data:
            raise ValueError("give either `model` (with `version`, `canary`) or a `models` list, not both")
        if "model" not in single:
            raise ValueError("`version` and `canary` belong to a model: add `model`, or put them in a `models` entry")
        rest = {k: v for k, v in data.items() if k not in single}
        return {**rest, "models": [{"name": single["model"], **{k: v for k, v in single.items() if k != "model"}}]}

    @model_validator(mode="after")
    def _each_model_runs_once(self) -> Rule:
        for choice in self.models:
            if choice.profile is None and self.profile is None:
                raise ValueError(f"model {choice.name} has no profile: give the rule or the model one")
        seen: dict[str, set[str | None]] = {}
        for choice in self.models:
            earlier = seen.setdefault(choice.name, set())
            if earlier and (None in earlier or None in choice.versions):
                raise ValueError(f"model {choice.name} is listed more than once: pin a version in each entry")
            twice = sorted(v for v in earlier & choice.versions if v is not None)
            if twice:
                raise ValueError(f"model {choice.name} would run version {twice[0]!r} twice")
            earlier |= choice.versions
        return self

    def runs(self, obj: ObjectRef) -> tuple[ModelRun, ...]:
        """What the object gets from this rule: one run per model, the primary first."""
        return tuple(
            ModelRun(choice.name, self._profile_of(choice), choice.version_for(obj), primary=index == 0)
            for index, choice in enumerate(self.models)
        )

    def _profile_of(self, choice: ModelChoice) -> str:
        profile = choice.profile or self.profile
        assert profile is not None  # _each_model_runs_once refuses a model without one
        return profile


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
        """Every model any rule names: each has an inference queue."""
        return frozenset(choice.name for rule in self.rules for choice in rule.models)
