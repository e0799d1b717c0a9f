"""Routing rules: which profile and model, which sample, and which objects are manifests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aquaflow_router.errors import NoRoute
from aquaflow_router.routing import RoutingTable, SampleRule, safe_sample_id
from aquaflow_router.service import plan
from aquaflow_shared.contracts import InferenceRequested, ObjectReceived, ObjectRef, SampleManifestReceived

TABLE = RoutingTable.model_validate(
    {
        "rules": [
            {
                "name": "flowcam-runs",
                "match": {"bucket": "plankton-flowcam"},
                "profile": "flowcam",
                "model": "plankton_classifier",
                "sample": {"from": "key", "pattern": "runs/{sample}/**"},
            },
            {
                "name": "uvp-casts",
                "match": {"bucket": "uvp-casts"},
                "profile": "zooscan",
                "model": "plankton_classifier",
                "sample": {"from": "metadata", "field": "cast"},
            },
            {
                "name": "zooscan-scans",
                "match": {"bucket": "plankton-zooscan"},
                "profile": "zooscan",
                "model": "plankton_classifier",
                "sample": {"from": "object"},
            },
            {"name": "drone", "match": {"bucket": "drone-litter"}, "profile": "litter", "model": "litter_tiles"},
        ]
    }
)


def received(bucket: str, key: str, **metadata: str) -> ObjectReceived:
    obj = ObjectRef(bucket=bucket, key=key, etag="e1", metadata=metadata)
    return ObjectReceived(
        message_id=obj.upload_id(), correlation_id=obj.upload_id(), tenant="lov", object=obj, source="minio-amqp"
    )


@pytest.mark.parametrize(
    ("bucket", "key", "metadata", "sample"),
    [
        ("plankton-flowcam", "runs/R042/img/0001.png", {}, "R042"),
        ("plankton-flowcam", "runs/R 43 (night)/0001.png", {}, "R-43-night"),
        ("plankton-flowcam", "elsewhere/0001.png", {}, None),
        ("uvp-casts", "x/1.png", {"Cast": "uvp6_sn0001_cast12"}, "uvp6_sn0001_cast12"),
        ("uvp-casts", "x/1.png", {}, None),
        ("plankton-zooscan", "2024/apero_2024_tot_1.tif", {}, "apero_2024_tot_1"),
        ("drone-litter", "flight1/0001.jpg", {}, None),
    ],
)
def test_each_rule_maps_an_upload_to_its_sample(
    bucket: str, key: str, metadata: dict[str, str], sample: str | None
) -> None:
    [(event, routing_key)] = plan(received(bucket, key, **metadata), TABLE)
    assert isinstance(event, InferenceRequested)
    assert event.sample_id == sample
    assert routing_key == f"inference.requested.{event.model}"


def test_sample_manifests_become_manifest_events_whatever_the_bucket() -> None:
    [(event, routing_key)] = plan(received("plankton-flowcam", "runs/R042/Sample.JSON"), TABLE)
    assert isinstance(event, SampleManifestReceived)
    assert routing_key == "sample.manifest"
    [(again, _)] = plan(received("plankton-flowcam", "runs/R042/Sample.JSON"), TABLE)
    assert again.message_id == event.message_id


def test_an_upload_no_rule_matches_is_refused_with_its_location() -> None:
    with pytest.raises(NoRoute, match=r"s3://nobody-s-bucket/a\.png"):
        plan(received("nobody-s-bucket", "a.png"), TABLE)


def test_a_key_pattern_without_a_sample_placeholder_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"\{sample\} placeholder"):
        SampleRule.model_validate({"from": "key", "pattern": "runs/*/x"})


def test_single_star_stays_within_one_path_segment() -> None:
    rule = SampleRule.model_validate({"from": "key", "pattern": "{sample}/*.png"})
    assert rule.sample_of(ObjectRef(bucket="bkt", key="S1/a.png", etag="e")) == "S1"
    assert rule.sample_of(ObjectRef(bucket="bkt", key="S1/deeper/a.png", etag="e")) is None


@pytest.mark.parametrize(("raw", "safe"), [("  st 7/a ", "st-7-a"), ("ok_1.2+3", "ok_1.2+3"), ("///", None)])
def test_sample_ids_are_made_safe_for_keys_and_file_names(raw: str, safe: str | None) -> None:
    assert safe_sample_id(raw) == safe
