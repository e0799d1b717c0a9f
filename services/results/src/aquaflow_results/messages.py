"""Message bodies parsed in one pass, with the shared decoder's reasons when they are wrong."""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from aquaflow_shared.contracts import Envelope, decode

M = TypeVar("M", bound=Envelope)


def parse(model: type[M], body: bytes) -> M:
    """``contracts.decode``, without building the body as Python objects first.

    A valid body (by far the most common) is validated straight from its JSON, which
    accepts exactly what ``decode`` accepts (``schema_version`` is a ``Literal[1]``); any
    other goes through ``decode`` itself, so a bad body fails with the same reason and code.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return decode(model, body)
