from __future__ import annotations

from aquaflow_shared.errors import PermanentError, TransientError


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


class DedupeUnavailable(IngestError, TransientError):
    """The store of seen objects cannot be reached; the message is retried."""


class CheckpointUnusable(IngestError):
    """The poller's checkpoint cannot be read; raised at start-up, never silently reset."""
