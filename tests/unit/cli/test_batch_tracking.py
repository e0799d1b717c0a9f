"""The results service's side of `aquaflow batch`: ids, item states, settling, dead-letter records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aquaflow_results.batches import (
    BatchSpec,
    FailureHit,
    ItemState,
    StoredHit,
    default_batch_id,
    is_archive,
    item_id,
    progress,
    sent_state,
    settle,
)
from aquaflow_results.letters import letter_record
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER

SENT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PLAIN = BatchSpec("b1x", "run/", None, reprocess=False)
AGAIN = BatchSpec("b1x", "run/", None, reprocess=True)
FOR_MODEL = BatchSpec("b1x", "run/", "fish_detector", reprocess=False)


def test_the_same_request_names_the_same_batch_and_reprocessing_another() -> None:
    assert default_batch_id("lov", PLAIN) == default_batch_id("lov", BatchSpec("b1x", "run/", None, False))
    assert default_batch_id("lov", PLAIN).startswith("b-")
    others = {default_batch_id("obsea", PLAIN), default_batch_id("lov", AGAIN), default_batch_id("lov", FOR_MODEL)}
    assert default_batch_id("lov", PLAIN) not in others
    assert len(others) == 3
    assert item_id("b", "k", '"e"') == item_id("b", "k", "e") != item_id("b", "k", "e2")


def test_archives_are_forwarded_to_their_members_other_objects_wait_for_a_result() -> None:
    assert [is_archive(k) for k in ("a.zip", "a.TAR.GZ", "a.tgz", ".zip", "a.png", "zip")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert (sent_state("x/a.zip"), sent_state("x/a.png")) == (ItemState.FORWARDED, ItemState.ENQUEUED)


def test_a_stored_result_settles_an_item_whenever_it_was_stored() -> None:
    old = [StoredHit("r1", "plankton_classifier")]
    assert settle(PLAIN, SENT, old, [], None) is not None
    assert settle(AGAIN, SENT, old, [], None).state is ItemState.STORED  # type: ignore[union-attr]
    assert settle(FOR_MODEL, SENT, old, [], None) is None  # another model's result does not count
    assert settle(FOR_MODEL, SENT, [StoredHit("r2", "fish_detector")], [], None).result_id == "r2"  # type: ignore[union-attr]


def test_a_dead_letter_settles_a_plain_item_always_and_a_reprocessed_one_only_since_it_was_sent() -> None:
    before = FailureHit("router", None, "no_route", "no rule", SENT - timedelta(hours=1))
    since = FailureHit("inference.m", "m", "corrupt_image", "bad", SENT + timedelta(seconds=5))
    failed = settle(PLAIN, SENT, [], [before], None)
    assert failed is not None
    assert (failed.state, failed.stage, failed.code) == (ItemState.FAILED, "router", "no_route")
    assert settle(AGAIN, SENT, [], [before], None) is None
    assert settle(AGAIN, SENT, [], [before, since], None).code == "corrupt_image"  # type: ignore[union-attr]
    other_model = FailureHit("inference.x", "x", "c", "r", SENT)
    assert settle(FOR_MODEL, SENT, [], [other_model], None) is None


def test_a_manifest_item_is_stored_once_its_sample_names_it() -> None:
    assert settle(PLAIN, SENT, [], [], SENT - timedelta(days=1)).state is ItemState.STORED  # type: ignore[union-attr]
    assert settle(AGAIN, SENT, [], [], SENT - timedelta(days=1)) is None
    assert settle(AGAIN, SENT, [], [], SENT + timedelta(seconds=1)) is not None
    assert settle(PLAIN, SENT, [], [], None) is None


def test_progress_counts_every_state_and_is_done_when_nothing_waits() -> None:
    figures = progress({"stored": 3, "skipped": 2, "enqueued": 1}, listing_done=True)
    assert (figures["total"], figures["pending"], figures["settled"], figures["done"]) == (6, 1, 5, False)
    assert figures["items"]["failed"] == 0
    assert progress({"stored": 1}, listing_done=True)["done"]
    assert not progress({"stored": 1}, listing_done=False)["done"]


def test_dead_letters_are_recorded_against_tenant_and_object() -> None:
    body = {"tenant": "lov", "object": {"bucket": "b1x", "key": "k", "etag": '"e"'}, "model": "m", "sample_id": "s"}
    headers = {STAGE_HEADER: "inference.m", CODE_HEADER: "corrupt_image", REASON_HEADER: "bad"}
    record = letter_record(headers, "inference.m.failed", json.dumps(body).encode())
    assert record is not None
    assert (record.tenant, record.key, record.etag, record.model, record.sample_id, record.batch_id) == (
        "lov",
        "k",
        "e",
        "m",
        "s",
        None,
    )
    limit = letter_record({}, "router.failed", json.dumps(body).encode())
    assert limit is not None
    assert (limit.stage, limit.code) == ("router", "delivery_limit")
    batch = letter_record({STAGE_HEADER: "ingest.batch"}, "", json.dumps(body | {"batch_id": "b-1"}).encode())
    assert batch is not None
    assert batch.batch_id == "b-1"
    assert batch.id != record.id
    notification = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}
    for nameless in (b"not json", b"[]", json.dumps(notification).encode(), json.dumps({"tenant": "lov"}).encode()):
        assert letter_record(headers, "", nameless) is None
