"""MongoDB failures as the settlement policy understands them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ConnectionFailure, PyMongoError

from aquaflow_shared.errors import DependencyUnavailable


@contextmanager
def mongodb_errors(action: str) -> Iterator[None]:
    """Turn an unreachable or timed-out MongoDB into ``DependencyUnavailable``.

    The consumer then holds its messages until MongoDB answers again instead of
    spending their attempts; any other MongoDB error is a real failure and propagates.
    """
    try:
        yield
    except ConnectionFailure as error:
        raise DependencyUnavailable("mongodb", f"{action}: {error}") from error
    except PyMongoError as error:
        if error.timeout:
            raise DependencyUnavailable("mongodb", f"{action} timed out: {error}") from error
        raise
