"""Opaque pagination cursors on (stored_at, _id): stable under concurrent inserts. Pure."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime


class CursorInvalid(ValueError):
    """A cursor that this service did not hand out (or that was altered)."""


@dataclass(frozen=True)
class Cursor:
    """The position after the last item of a page: its sort key."""

    stored_at: datetime | None
    id: str

    def encode(self) -> str:
        payload = {"i": self.id, "t": self.stored_at.isoformat() if self.stored_at else None}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            stored_at = datetime.fromisoformat(raw["t"]).astimezone(UTC) if raw["t"] is not None else None
            if not isinstance(raw["i"], str):
                raise TypeError("id is not a string")
            return cls(stored_at=stored_at, id=raw["i"])
        except (ValueError, TypeError, KeyError) as error:
            raise CursorInvalid("invalid cursor") from error
