"""Message bodies decoded in one pass when valid, with a reason and code for every way they can be wrong."""

from __future__ import annotations

import json

import pytest

from aquaflow_shared.contracts import ObjectReceived, ObjectRef, decode
from aquaflow_shared.errors import PermanentError

OBJECT = ObjectRef(bucket="plankton-flowcam", key="run-7/a.png", etag="abc123", metadata={"instrument": "flowcam"})
RECEIVED = ObjectReceived(
    message_id=OBJECT.upload_id(), correlation_id=OBJECT.upload_id(), tenant="lov", object=OBJECT, source="s3-poller"
)
GOOD = json.loads(RECEIVED.model_dump_json())


def body(**changes: object) -> bytes:
    fields = {k: v for k, v in (GOOD | changes).items() if v is not ...}
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    "valid",
    [
        RECEIVED.model_dump_json().encode(),
        b"\xef\xbb\xbf" + RECEIVED.model_dump_json().encode(),  # a UTF-8 byte order mark
        RECEIVED.model_dump_json().encode("utf-16"),
        body(schema_version=1.0),
    ],
)
def test_a_valid_body_decodes_to_its_event(valid: bytes) -> None:
    assert decode(ObjectReceived, valid) == RECEIVED


@pytest.mark.parametrize(
    ("bad", "code", "reason"),
    [
        (b"{not json", "malformed", "body is not JSON"),
        (b"\xff\xfe\xfd", "malformed", "body is not JSON"),
        (b"[1]", "malformed", "body is not a JSON object"),
        (RECEIVED.model_dump_json().encode() + b" {}", "malformed", "body is not JSON"),
        (body(schema_version=...), "schema_version", "schema_version None is not supported"),
        (body(schema_version=2), "schema_version", "schema_version 2 is not supported"),
        (body(schema_version="1"), "schema_version", "schema_version '1' is not supported"),
        (body(tenant="Not A Segment"), "malformed", "not a valid ObjectReceived: tenant:"),
        (body(unknown=1), "malformed", "not a valid ObjectReceived: unknown: Extra inputs are not permitted"),
        (body(created_at="2025-01-01T00:00:00"), "malformed", "not a valid ObjectReceived: created_at:"),
    ],
)
def test_a_bad_body_fails_with_its_reason_and_code(bad: bytes, code: str, reason: str) -> None:
    with pytest.raises(PermanentError) as failure:
        decode(ObjectReceived, bad)
    assert failure.value.code == code
    assert failure.value.reason.startswith(reason)
