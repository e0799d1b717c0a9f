"""Dead letters read as an operator reads them, and where a replay sends each kind."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aquaflow_cli.dead_letters import (
    REPLAYS_HEADER,
    NotReplayable,
    RawDeadLetter,
    ReplayTarget,
    describe,
    replay_headers,
    replay_target,
)
from aquaflow_shared.consumer import FAILED_ATTEMPTS_HEADER, LAST_ERROR_HEADER
from aquaflow_shared.delivery import ATTEMPTS_HEADER, CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER, STAGE_HEADER
from aquaflow_shared.topology import Topology

TOPOLOGY = Topology(prefix="aqf")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
REQUEST = {
    "schema_version": 1,
    "tenant": "lov",
    "object": {"bucket": "plankton-flowcam", "key": "run1/cell 1.png", "etag": "abc"},
    "model": "plankton_classifier",
}


def letter(stage: str, code: str, body: object, **headers: object) -> RawDeadLetter:
    return RawDeadLetter(
        body=json.dumps(body).encode(),
        headers={STAGE_HEADER: stage, CODE_HEADER: code, REASON_HEADER: f"{code} happened", **headers},
        routing_key=f"{stage}.failed",
        message_id="m-1",
        timestamp=NOW - timedelta(minutes=5),
    )


def test_a_stage_dead_letter_names_its_stage_code_tenant_object_and_time() -> None:
    view = describe(3, letter("inference.plankton_classifier", "corrupt_image", REQUEST))
    assert (view.position, view.stage, view.code, view.reason) == (
        3,
        "inference.plankton_classifier",
        "corrupt_image",
        "corrupt_image happened",
    )
    assert (view.tenant, view.bucket, view.key) == ("lov", "plankton-flowcam", "run1/cell 1.png")
    assert view.age_seconds(NOW) == 300
    assert view.ref == "m-1"


def test_a_letter_the_delivery_limit_dead_lettered_is_read_from_x_death() -> None:
    died = datetime(2025, 6, 1, 11, 0)  # AMQP timestamps come without a zone: UTC
    raw = RawDeadLetter(
        body=json.dumps(REQUEST).encode(),
        headers={
            "x-death": [{"count": 12, "time": died, "queue": "aqf.results", "routing-keys": ["inference.completed"]}]
        },
        routing_key="results.failed",
    )
    view = describe(1, raw)
    assert (view.stage, view.code) == ("results", "delivery_limit")
    assert "12 deliveries" in view.reason
    assert view.failed_at == died.replace(tzinfo=UTC)
    assert view.original_routing_key == "inference.completed"
    assert view.message_id is None
    assert len(view.ref) == 12


def test_a_notification_body_names_its_object_with_the_key_decoded() -> None:
    notification = {"Records": [{"s3": {"bucket": {"name": "b1"}, "object": {"key": "a+b%2Fc.png"}}}]}
    view = describe(1, letter("ingest", "malformed", notification, **{ROUTING_KEY_HEADER: "s3.notification"}))
    assert (view.bucket, view.key, view.tenant) == ("b1", "a b/c.png", None)


def test_replay_goes_back_to_the_queue_of_the_stage_that_failed() -> None:
    view = describe(1, letter("inference.plankton_classifier", "retries_exhausted", REQUEST))
    assert replay_target(view, TOPOLOGY) == ReplayTarget("", "aqf.inference.plankton_classifier")
    ingest = describe(1, letter("ingest", "malformed", {}, **{ROUTING_KEY_HEADER: "s3.notification"}))
    assert replay_target(ingest, TOPOLOGY) == ReplayTarget("", "aqf.ingest")
    webhook = describe(1, letter("ingest", "malformed", {}, **{ROUTING_KEY_HEADER: "minio.webhook"}))
    assert replay_target(webhook, TOPOLOGY) == ReplayTarget("", "aqf.ingest")


def test_an_unroutable_event_goes_back_to_the_events_exchange_with_its_key() -> None:
    view = describe(1, letter("unroutable", "unroutable", REQUEST, **{ROUTING_KEY_HEADER: "inference.requested.x"}))
    assert replay_target(view, TOPOLOGY) == ReplayTarget("aqf.events", "inference.requested.x")


def test_an_object_the_sweep_refused_has_nowhere_to_go_back_to() -> None:
    swept = {"bucket": "b1", "key": "empty.png", "etag": "e", "size": 0}
    view = describe(1, letter("ingest", "empty_object", swept, **{ROUTING_KEY_HEADER: ""}))
    with pytest.raises(NotReplayable, match="batch"):
        replay_target(view, TOPOLOGY)
    with pytest.raises(NotReplayable):
        replay_target(describe(1, RawDeadLetter(body=b"x", headers={}, routing_key="")), TOPOLOGY)


def test_a_replayed_copy_carries_no_failure_headers_and_counts_its_replays() -> None:
    raw = letter(
        "router",
        "no_route",
        REQUEST,
        **{
            ATTEMPTS_HEADER: 1,
            ROUTING_KEY_HEADER: "object.received",
            FAILED_ATTEMPTS_HEADER: 2,
            LAST_ERROR_HEADER: "x",
            "x-delivery-count": 3,
            "x-aquaflow-tenant": "lov",
            REPLAYS_HEADER: 1,
        },
    )
    headers = replay_headers(describe(1, raw), NOW)
    assert headers["x-aquaflow-tenant"] == "lov"
    assert headers[REPLAYS_HEADER] == 2
    for gone in (STAGE_HEADER, CODE_HEADER, REASON_HEADER, ATTEMPTS_HEADER, FAILED_ATTEMPTS_HEADER, "x-delivery-count"):
        assert gone not in headers


def test_detail_shows_the_body_as_json_text_or_base64() -> None:
    assert describe(1, letter("router", "no_route", REQUEST)).detail()["body"] == REQUEST
    text = RawDeadLetter(body="plain é".encode(), headers={}, routing_key="router.failed")
    assert describe(1, text).detail()["body"] == "plain é"
    binary = RawDeadLetter(body=b"\xff\xfe", headers={"h": b"v"}, routing_key="router.failed")
    shown = describe(1, binary).detail()
    assert shown["body"] == {"base64": "//4="}
    assert shown["headers"] == {"h": "v"}
