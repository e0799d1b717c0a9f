"""Rows for tables and CSV, S3 addresses, and a batch's progress as the CLI reads it."""

from __future__ import annotations

import csv
import io

import pytest

from aquaflow_cli.batch_view import exit_code, interrupted, resume_hint, settled_line
from aquaflow_cli.errors import CliError, Exit
from aquaflow_cli.exports import RESULT_COLUMNS, SAMPLE_COLUMNS, result_row, sample_row, to_csv, top_classes
from aquaflow_cli.s3_urls import S3Location, parse_s3_url

RESULT = {
    "id": "r1",
    "object": {"bucket": "b", "key": "s1/a.png", "etag": "e"},
    "profile": "flowcam",
    "model": "plankton_classifier",
    "model_version": "3",
    "sample_id": "s1",
    "classification": {"label": "copepod", "score": 0.9},
    "summary": {"label": "copepod", "score": 0.9},
    "objects": [{"status": "predicted"}, {"status": "unclassified"}],
    "stored_at": "2025-01-01T00:00:00Z",
}


def test_a_result_is_one_flat_row_and_csv_quotes_what_it_must() -> None:
    row = result_row(RESULT)
    assert (row["key"], row["label"], row["score"], row["objects"], row["predicted"], row["unclassified"]) == (
        "s1/a.png",
        "copepod",
        0.9,
        2,
        1,
        1,
    )
    text = to_csv([row, result_row({"id": "r2", "object": {"key": 'a,"b"'}})], RESULT_COLUMNS)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["model_version"] == "3"
    assert parsed[1]["key"] == 'a,"b"'
    assert parsed[1]["label"] == ""


def test_a_sample_row_shows_its_top_classes_and_push_state() -> None:
    sample = {"sample_id": "s1", "processed": 3, "counts": {"b": 1, "a": 5, "c": 5, "d": 0}, "push": {"state": "done"}}
    row = sample_row(sample)
    assert (row["top_classes"], row["push_state"]) == ("a 5, c 5, b 1", "done")
    assert to_csv([row], SAMPLE_COLUMNS).splitlines()[0].startswith("sample_id,processed,failed")
    assert top_classes({}) == ""


def test_s3_addresses_split_into_bucket_and_prefix() -> None:
    assert parse_s3_url("s3://plankton-flowcam/2024/run") == S3Location("plankton-flowcam", "2024/run")
    assert parse_s3_url("s3://bucket") == S3Location("bucket", "")
    assert str(S3Location("b1x", "p/")) == "s3://b1x/p/"
    for wrong in ("plankton/x", "s3://", "s3://UPPER/x", "s3://ab/x"):
        with pytest.raises(CliError) as refused:
            parse_s3_url(wrong)
        assert refused.value.code is Exit.USAGE


def test_a_batch_reads_as_its_states_and_exit_code() -> None:
    done = {"items": {"stored": 5, "skipped": 2}, "done": True, "listing_done": True}
    failed = {"items": {"stored": 5, "failed": 1}, "done": True, "listing_done": True}
    pending = {"items": {"enqueued": 3}, "done": False, "listing_done": True}
    stopped = {"items": {"enqueuing": 2}, "done": False, "listing_done": False}
    assert settled_line(done) == "5 stored, 2 skipped"
    assert settled_line({"items": {}}) == "no items"
    assert [exit_code(b) for b in (done, failed, pending)] == [Exit.OK, Exit.FAILED, Exit.PENDING]
    assert (interrupted(pending), interrupted(stopped)) == (False, True)
    batch = {"id": "again", "bucket": "b1x", "prefix": "p/", "model": "m", "reprocess": True}
    assert resume_hint(batch) == "aquaflow batch s3://b1x/p/ --id again --model m --reprocess"
