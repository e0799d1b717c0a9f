"""The two kinds of failure every stage distinguishes.

Services subclass these in their own error hierarchy; adapters translate vendor
exceptions into them. The settlement policy in ``delivery`` acts on the kind.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying cannot help (bad input, unknown model): dead-letter at once."""

    code = "invalid"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class TransientError(Exception):
    """A dependency is unavailable or overloaded: retry a bounded number of times."""

    code = "unavailable"


class Deferred(TransientError):
    """The message must wait for something else to finish first (another delivery of it
    holds its claim): retried after a delay without counting an attempt, since nothing
    failed. Whatever it waits for must end by itself (a lease that lapses).
    """

    code = "deferred"


class DependencyUnavailable(TransientError):
    """A dependency the stage needs (Triton, S3, MongoDB, Redis, EcoTaxa) is unreachable.

    Not the message's fault: the consumer pauses, puts the message back without
    counting an attempt, probes the dependency with backoff and resumes by itself.
    """

    code = "dependency_unavailable"

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason
