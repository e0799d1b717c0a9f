"""S3's answers sorted: a missing object is the message's fault, an outage is not."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from aquaflow_inference.errors import ObjectMissing, StorageRefused, StorageUnavailable
from aquaflow_inference.storage import translate
from aquaflow_shared.errors import DependencyUnavailable, PermanentError, TransientError


def answer(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("404", 404), ("NoSuchBucket", 404)])
def test_an_object_gone_before_processing_is_permanent(code: str, status: int) -> None:
    error = translate(answer(code, status), "s3://b/k", reading=True)
    assert isinstance(error, ObjectMissing)
    assert isinstance(error, PermanentError)
    assert error.code == "object_missing"


def test_an_object_replaced_since_the_event_is_permanent() -> None:
    error = translate(answer("PreconditionFailed", 412), "s3://b/k", reading=True)
    assert isinstance(error, ObjectMissing)
    assert "changed since the event" in str(error)


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalError", 500), ("ServiceUnavailable", 503), ("SlowDown", 503), ("AccessDenied", 403), ("", 502)],
)
def test_a_failing_or_refusing_s3_is_an_outage_of_the_dependency(code: str, status: int) -> None:
    error = translate(answer(code, status), "s3://b/k", reading=True)
    assert isinstance(error, StorageUnavailable)
    assert isinstance(error, DependencyUnavailable)
    assert error.dependency == "s3"


def test_a_missing_output_bucket_is_an_outage_not_the_messages_fault() -> None:
    error = translate(answer("NoSuchBucket", 404), "s3://out/k.png", reading=False)
    assert isinstance(error, StorageUnavailable)
    assert "does not exist" in error.reason


def test_other_answers_are_retried_a_bounded_number_of_times() -> None:
    error = translate(answer("InvalidRequest", 400), "s3://b/k", reading=True)
    assert isinstance(error, StorageRefused)
    assert isinstance(error, TransientError)
    assert not isinstance(error, DependencyUnavailable)
