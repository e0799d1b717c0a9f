"""The inference service's errors: what is wrong with the input, or what is unavailable."""

from __future__ import annotations

from aquaflow_shared.errors import PermanentError, TransientError


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


class TritonUnavailable(InferenceError, TransientError):
    code = "triton_unavailable"


class StorageUnavailable(InferenceError, TransientError):
    code = "storage_unavailable"
