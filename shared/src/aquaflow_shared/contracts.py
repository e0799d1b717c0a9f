"""Message contracts exchanged over the event topic exchange.

Every message carries the same envelope: a schema version (a consumer rejects
versions it does not know), a deterministic ``message_id`` (so a redelivered or
duplicated event leads to the same stored result), the ``correlation_id`` of the
upload it descends from, the ``tenant`` (decided from bucket configuration, never
from uploader data) and a UTC timestamp.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from aquaflow_shared.errors import PermanentError

SCHEMA_VERSION = 1

# A routing-key segment must not contain dots or wildcards.
RoutingSegment = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]

# A sample id names a ZooScan scan, a FlowCam run or a UVP cast; it becomes part of
# object keys in the output bucket and of EcoTaxa file names, so it is kept plain.
SampleId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]

# A model version a routing rule asks for: Triton's are whole numbers ("3"); other backends
# may use dotted ones ("1.2.0"). Kept plain because it becomes part of result ids.
ModelVersion = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]

M = TypeVar("M", bound="Envelope")


def utc_now() -> datetime:
    return datetime.now(UTC)


def derive_id(*parts: object) -> str:
    """A stable identifier from the parts that define one unit of work.

    Used for message ids: the same bucket, key, ETag/version, model and ROI index
    always give the same id, whichever replica computes it and however often.
    """
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode())
    return digest.hexdigest()[:32]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(_Frozen):
    schema_version: Literal[1] = 1  # == SCHEMA_VERSION; a Literal so foreign versions fail validation
    message_id: str = Field(min_length=8, max_length=128)
    correlation_id: str = Field(min_length=8, max_length=128)
    tenant: RoutingSegment
    created_at: AwareDatetime = Field(default_factory=utc_now)

    @field_validator("created_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class ArchiveOrigin(_Frozen):
    """The archive an object was expanded from: its provenance, not its identity."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    etag: str = Field(min_length=1, max_length=128)
    version_id: str | None = None
    member: str = Field(min_length=1, max_length=1024, description="path of the member inside the archive")


class ObjectRef(_Frozen):
    """One version of one object in a bucket."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    etag: str = Field(min_length=1, max_length=128)
    version_id: str | None = None
    size: int | None = Field(default=None, ge=0)
    content_type: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    # Set when ingest wrote this object by expanding an uploaded zip or tar archive.
    archive: ArchiveOrigin | None = None

    @field_validator("etag")
    @classmethod
    def _strip_quotes(cls, value: str) -> str:
        return value.strip('"')

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What distinguishes this object version from any other."""
        return (self.bucket, self.key, self.etag, self.version_id or "")

    def upload_id(self) -> str:
        """The correlation id of every message descending from this upload."""
        return derive_id("upload", *self.identity)


class ObjectReceived(Envelope):
    """An object version appeared in a watched bucket (``object.received``)."""

    object: ObjectRef
    # How ingest learnt of the object: MinIO over AMQP or webhook, an AWS-format
    # notification, the S3 poller or reconciliation sweep, or archive expansion.
    source: Literal["minio-amqp", "minio-webhook", "aws-s3", "s3-poller", "s3-reconcile", "archive"]
    event_time: AwareDatetime | None = None


class InferenceRequested(Envelope):
    """Run ``model`` on one object as pipeline ``profile`` says (``inference.requested.<model>``).

    A routing rule naming several models sends one request per model, each with its own
    ``message_id`` (derived from the object version, the model and the pinned version).
    """

    object: ObjectRef
    profile: RoutingSegment
    model: RoutingSegment
    route: str = Field(description="name of the routing rule that matched")
    # The sample this upload belongs to (a ZooScan scan, a FlowCam run, a UVP cast), as the
    # routing rule derived it; None when the rule maps uploads to no sample.
    sample_id: SampleId | None = None
    model_version: ModelVersion | None = Field(
        default=None,
        description="the version to run (pinned by the routing rule, or its canary); "
        "None: the version the worker serves by default",
    )
    primary: bool = Field(
        default=True,
        description="whether the model is the routing rule's first (primary) one: a sample's completion "
        "and its EcoTaxa push follow the primary model's results",
    )


class LabelScore(_Frozen):
    label: str
    score: float = Field(ge=0.0, le=1.0)


class Classification(_Frozen):
    label: str
    score: float = Field(ge=0.0, le=1.0)
    top: list[LabelScore] = Field(default_factory=list)
    # The model's whole score vector, every class, not only the top few.
    scores: dict[str, float] = Field(default_factory=dict)


class BoundingBox(_Frozen):
    """Pixel coordinates in the original image, x to the right, y down."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float


class Detection(_Frozen):
    label: str
    score: float = Field(ge=0.0, le=1.0)
    box: BoundingBox
    # Key of the PNG crop of the box in the output bucket, once written.
    crop_key: str | None = None


class Region(_Frozen):
    """One region of interest: an organism in a scan or a tile of a drone image."""

    index: int = Field(ge=0)
    box: BoundingBox
    features: dict[str, float] = Field(default_factory=dict)
    classification: Classification | None = None
    # Key of the PNG crop of the region in the output bucket, once written.
    crop_key: str | None = None


class InferenceCompleted(Envelope):
    """The outcome of one inference request (``inference.completed``)."""

    object: ObjectRef
    profile: RoutingSegment
    model: RoutingSegment
    model_version: str
    image_width: int = Field(gt=0)
    image_height: int = Field(gt=0)
    classification: Classification | None = None
    detections: list[Detection] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    # Image-level measurements that are neither a class nor a count (litter: ``litter_fraction``).
    measures: dict[str, float] = Field(default_factory=dict)
    inference_ms: float = Field(ge=0.0)
    route: str = ""
    sample_id: SampleId | None = None
    # Where the crops and the annotated preview were written (None: not written).
    output_bucket: str | None = None
    # The crop of a one-particle image (flowcam), and the annotated preview of the frame or scan.
    crop_key: str | None = None
    preview_key: str | None = None
    # Copied from the request, so that results can tell apart two versions of one model run on
    # the same object and know which result counts for the sample.
    requested_version: ModelVersion | None = Field(
        default=None,
        description="InferenceRequested.model_version: the version the routing rule asked for (None: the "
        "worker's default); model_version is the one that ran",
    )
    primary: bool = Field(default=True, description="InferenceRequested.primary")


class SampleManifestReceived(Envelope):
    """A sample manifest object was uploaded beside a sample's images (``sample.manifest``).

    The manifest's content (sample id, metadata, expected object count) is read by the
    results service from the object itself; see docs/samples.md for its format.
    """

    object: ObjectRef
    route: str = Field(description="name of the routing rule that matched")


class ResultAvailable(Envelope):
    """A result is stored and can be read (``result.<profile>.<tenant>``)."""

    result_id: str
    object: ObjectRef
    profile: RoutingSegment
    model: RoutingSegment
    model_version: str
    summary: dict[str, float | int | str] = Field(default_factory=dict)
    stored_at: AwareDatetime = Field(default_factory=utc_now)
    sample_id: SampleId | None = None


def decode(model: type[M], body: bytes) -> M:
    """Parse a message body, turning every way it can be wrong into a clear reason.

    A valid body (by far the most common) is validated straight from its JSON in one pass,
    several times faster than building it as Python objects first. Only one that names its
    ``schema_version`` is taken that way (the field has a default, and a body without it is
    refused); any other goes through ``_decode_explained``, which says what is wrong.
    """
    try:
        decoded = model.model_validate_json(body)
    except Exception:  # noqa: BLE001 - the explained way below gives the reason and code
        return _decode_explained(model, body)
    if "schema_version" not in decoded.model_fields_set:
        return _decode_explained(model, body)
    return decoded


def _decode_explained(model: type[M], body: bytes) -> M:
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PermanentError(f"body is not JSON: {error}", code="malformed") from error
    if not isinstance(raw, dict):
        raise PermanentError("body is not a JSON object", code="malformed")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise PermanentError(
            f"schema_version {version!r} is not supported (this consumer reads {SCHEMA_VERSION})",
            code="schema_version",
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()[:5]
        )
        raise PermanentError(f"not a valid {model.__name__}: {problems}", code="malformed") from error
