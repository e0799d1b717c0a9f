"""The committed AsyncAPI document is the one the contracts generate, and it states the delivery guarantee."""

from __future__ import annotations

import json
from pathlib import Path

from aquaflow_shared.asyncapi import document, render

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_the_committed_document_matches_the_contracts() -> None:
    assert COMMITTED.read_text() == render(), "regenerate: python -m aquaflow_shared.asyncapi > docs/asyncapi.json"


def test_result_events_are_documented_as_at_least_once_with_a_stable_id() -> None:
    result = document()["channels"]["resultAvailable"]
    assert result["address"] == "result.{profile}.{tenant}"
    assert "at least once" in result["description"]
    assert "message_id" in result["description"]
    assert json.loads(render())["asyncapi"] == "3.0.0"
