from __future__ import annotations

from aquaflow_shared.errors import TransientError


class ResultsError(Exception):
    """Base of the results service's own errors."""


class StoreUnavailable(ResultsError, TransientError):
    """The result store cannot be reached; the message is retried."""

    code = "store_unavailable"
