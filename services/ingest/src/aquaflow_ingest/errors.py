"""The ingest service's errors; each permanent one names its dead-letter code."""

from __future__ import annotations

from aquaflow_shared.errors import Deferred, DependencyUnavailable, PermanentError


class IngestError(Exception):
    """Base of the ingest service's own errors."""


class MalformedEvent(IngestError, PermanentError):
    """A notification body that is not an S3/MinIO bucket notification."""

    code = "malformed"


class BucketNotWatched(IngestError, PermanentError):
    code = "bucket_not_watched"


class ObjectRejected(IngestError, PermanentError):
    """An object that must not enter the pipeline; subclasses name the reason."""


class ObjectTooLarge(ObjectRejected):
    code = "oversize"


class EmptyObject(ObjectRejected):
    code = "empty_object"


class UnsafeKey(ObjectRejected):
    code = "unsafe_key"


class ObjectMissing(ObjectRejected):
    """The object version was deleted or replaced before ingest could read it."""

    code = "object_missing"


class ArchiveRejected(ObjectRejected):
    """An uploaded archive that breaks one of the expansion bounds; subclasses name the bound."""

    code = "archive_rejected"


class ArchiveTooManyMembers(ArchiveRejected):
    code = "archive_too_many_members"


class ArchiveTooLarge(ArchiveRejected):
    code = "archive_too_large"


class ArchiveRatio(ArchiveRejected):
    code = "archive_ratio"


class ArchiveUnsafePath(ArchiveRejected):
    code = "archive_unsafe_path"


class ArchiveLink(ArchiveRejected):
    """A symbolic or hard link, a device or a FIFO: anything but a file or a folder."""

    code = "archive_link"


class ArchiveNested(ArchiveRejected):
    code = "archive_nested"


class ArchiveCorrupt(ArchiveRejected):
    code = "archive_corrupt"


class DedupeUnavailable(IngestError, DependencyUnavailable):
    """The claim store (Redis) cannot be reached: ingest pauses until it answers."""

    def __init__(self, reason: str) -> None:
        super().__init__("redis", reason)


class ClaimPending(IngestError, Deferred):
    """Another delivery holds the claim and has not finished: retry once it has, or once its lease lapsed."""

    code = "claim_pending"


class CheckpointUnusable(IngestError):
    """The sweep's checkpoint cannot be read; raised at start-up, never silently reset."""
