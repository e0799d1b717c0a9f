"""The inference service's errors: what is wrong with the input, or what is unavailable."""

from __future__ import annotations

from aquaflow_shared.errors import DependencyUnavailable, PermanentError, TransientError


class InferenceError(Exception):
    """Base of the inference service's own errors."""


class NotAnImage(InferenceError, PermanentError):
    code = "not_an_image"


class CorruptImage(InferenceError, PermanentError):
    code = "corrupt_image"


class ImageTooLarge(InferenceError, PermanentError):
    code = "decompression_bomb"


class ObjectTooLarge(InferenceError, PermanentError):
    code = "oversize"


class ObjectMissing(InferenceError, PermanentError):
    code = "object_missing"


class UnknownModel(InferenceError, PermanentError):
    code = "unknown_model"


class ProfileMismatch(InferenceError, PermanentError):
    code = "profile_mismatch"


class ModelRejectedInput(InferenceError, PermanentError):
    code = "model_rejected_input"


class InvalidModelConfig(InferenceError):
    """The model's Triton configuration breaks the model contract; raised at start-up."""


class OutputBucketMissing(InferenceError):
    """The configured output bucket does not exist; raised at start-up (operators create it)."""


class TritonUnavailable(InferenceError, DependencyUnavailable):
    """Triton cannot be reached or does not serve the model: an outage, not the message's fault."""

    def __init__(self, reason: str) -> None:
        super().__init__("triton", reason)


class TritonBusy(InferenceError, TransientError):
    """Triton answered but pushed back (its queue is full) or failed one call: retry later."""

    code = "triton_busy"


class StorageUnavailable(InferenceError, DependencyUnavailable):
    """S3 cannot be reached, or keeps failing after the client's own retries."""

    def __init__(self, reason: str) -> None:
        super().__init__("s3", reason)


class StorageRefused(InferenceError, TransientError):
    """S3 answered with an error that is neither an outage nor a missing object."""

    code = "storage_refused"
