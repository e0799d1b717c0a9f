"""Which dead letters a dlq command acts on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aquaflow_cli.dead_letters import DeadLetterView, RawDeadLetter, describe
from aquaflow_cli.dlq_filters import DeadLetterFilter, format_age, parse_age, stage_matches
from aquaflow_cli.errors import CliError
from aquaflow_shared.delivery import CODE_HEADER, STAGE_HEADER

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def view(
    stage: str, code: str, tenant: str | None, minutes_ago: float | None, key: str = "run1/a.png"
) -> DeadLetterView:
    body = {"object": {"bucket": "b1", "key": key, "etag": "e"}} | ({"tenant": tenant} if tenant else {})
    stamp = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    raw = RawDeadLetter(
        json.dumps(body).encode(),
        {STAGE_HEADER: stage, CODE_HEADER: code},
        f"{stage}.failed",
        "id-" + code,
        None,
        None,
        stamp,
    )
    return describe(1, raw)


def test_ages_are_read_in_seconds_minutes_hours_and_days() -> None:
    assert parse_age("90s") == timedelta(seconds=90)
    assert parse_age("15m") == timedelta(minutes=15)
    assert parse_age(" 2h") == timedelta(hours=2)
    assert parse_age("1.5d") == timedelta(hours=36)
    for wrong in ("", "5", "5w", "-1h", "h"):
        with pytest.raises(CliError):
            parse_age(wrong)


def test_a_stage_names_itself_and_the_stages_below_it() -> None:
    assert stage_matches("inference", "inference.plankton_classifier")
    assert stage_matches("inference.plankton_classifier", "inference.plankton_classifier")
    assert not stage_matches("inference.plankton", "inference.plankton_classifier")
    assert not stage_matches("results", "results-x")


def test_every_filter_must_hold() -> None:
    letter = view("inference.fish_detector", "corrupt_image", "obsea", 30)
    assert DeadLetterFilter().matches(letter, NOW)
    assert DeadLetterFilter(stages=("router", "inference"), codes=("corrupt_image",)).matches(letter, NOW)
    assert not DeadLetterFilter(stages=("router",)).matches(letter, NOW)
    assert not DeadLetterFilter(codes=("no_route",)).matches(letter, NOW)
    assert DeadLetterFilter(tenants=("lov", "obsea")).matches(letter, NOW)
    assert not DeadLetterFilter(tenants=("lov",)).matches(letter, NOW)
    assert DeadLetterFilter(refs=("id-corrupt_image",)).matches(letter, NOW)
    assert DeadLetterFilter(refs=(letter.fingerprint,)).matches(letter, NOW)
    assert not DeadLetterFilter(refs=("other",)).matches(letter, NOW)
    assert DeadLetterFilter(key_prefix="run1/").matches(letter, NOW)
    assert not DeadLetterFilter(key_prefix="run2/").matches(letter, NOW)


def test_age_filters_compare_with_when_it_was_dead_lettered() -> None:
    old, new, unknown = view("router", "a", "lov", 120), view("router", "b", "lov", 5), view("router", "c", "lov", None)
    older = DeadLetterFilter(older_than=timedelta(hours=1))
    newer = DeadLetterFilter(newer_than=timedelta(minutes=10))
    assert [older.matches(v, NOW) for v in (old, new, unknown)] == [True, False, False]
    assert [newer.matches(v, NOW) for v in (old, new, unknown)] == [False, True, False]
    between = DeadLetterFilter(older_than=timedelta(minutes=1), newer_than=timedelta(hours=1))
    assert [between.matches(v, NOW) for v in (old, new)] == [False, True]


def test_a_filter_says_what_it_selects() -> None:
    assert DeadLetterFilter().describe() == "every dead letter"
    assert DeadLetterFilter().is_everything
    chosen = DeadLetterFilter(stages=("router",), codes=("no_route",), older_than=timedelta(days=7))
    assert chosen.describe() == "stage router, code no_route, older than 7d"
    assert [format_age(s) for s in (5, 90, 7200, 200000)] == ["5s", "1m", "2h", "2d"]
    assert not chosen.is_everything
