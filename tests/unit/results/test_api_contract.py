"""The committed OpenAPI document is the one the app serves; tokens and cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from aquaflow_results.auth import TenantTokens
from aquaflow_results.cursors import Cursor, CursorInvalid
from aquaflow_results.openapi import render

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi" / "results.json"


def test_committed_openapi_document_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "docs/openapi/results.json is stale: run .venv/bin/python -m aquaflow_results.openapi docs/openapi/results.json"
    )


def test_tokens_map_to_their_tenant_only() -> None:
    tokens = TenantTokens({"lov": SecretStr("a" * 20), "obsea": SecretStr("b" * 20)})
    assert tokens.tenant_for("a" * 20) == "lov"
    assert tokens.tenant_for("b" * 20) == "obsea"
    assert tokens.tenant_for("a" * 19) is None
    assert tokens.tenant_for("") is None


def test_cursor_round_trip_and_tampering() -> None:
    cursor = Cursor(datetime(2025, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "abc")
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(Cursor(None, "lov:s1").encode()) == Cursor(None, "lov:s1")
    for bad in ("", "not-a-cursor", "e30"):
        with pytest.raises(CursorInvalid):
            Cursor.decode(bad)
