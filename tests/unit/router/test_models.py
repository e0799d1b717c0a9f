"""Several models per rule, pinned versions and canaries: which requests an upload gets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from aquaflow_router.routing import RoutingTable, canary_position
from aquaflow_router.service import plan, plan_inference
from aquaflow_shared.contracts import InferenceRequested, ObjectReceived, ObjectRef, derive_id


def table(*rules: dict[str, Any]) -> RoutingTable:
    return RoutingTable.model_validate({"rules": [{"name": f"rule-{i}", **r} for i, r in enumerate(rules)]})


def received(key: str = "run1/cell-1.png", *, etag: str = "e1", bucket: str = "plankton-flowcam") -> ObjectReceived:
    obj = ObjectRef(bucket=bucket, key=key, etag=etag)
    return ObjectReceived(
        message_id=obj.upload_id(), correlation_id=obj.upload_id(), tenant="lov", object=obj, source="minio-amqp"
    )


TWO_MODELS = table(
    {
        "profile": "flowcam",
        "models": [{"name": "plankton_classifier"}, {"name": "fish_detector", "profile": "obsea"}],
        "sample": {"from": "key", "pattern": "{sample}/**"},
    }
)


def test_a_rule_with_two_models_sends_one_request_to_each_model_queue() -> None:
    upload = received()
    planned = plan(upload, TWO_MODELS)
    requests = [event for event, _ in planned]
    assert all(isinstance(r, InferenceRequested) for r in requests)
    assert [key for _, key in planned] == [
        "inference.requested.plankton_classifier",
        "inference.requested.fish_detector",
    ]
    assert [(r.model, r.profile, r.primary, r.model_version) for r in plan_inference(upload, TWO_MODELS)] == [
        ("plankton_classifier", "flowcam", True, None),
        ("fish_detector", "obsea", False, None),
    ]
    assert len({r.message_id for r in requests}) == 2
    assert {r.correlation_id for r in requests} == {upload.correlation_id}
    assert {getattr(r, "sample_id", None) for r in requests} == {"run1"}


def test_the_single_model_form_keeps_its_message_ids() -> None:
    upload = received()
    [request] = plan_inference(upload, table({"profile": "flowcam", "model": "plankton_classifier"}))
    assert request.message_id == derive_id("inference.requested", *upload.object.identity, "plankton_classifier")
    assert (request.model_version, request.primary) == (None, True)


def test_a_pinned_version_is_requested_and_has_its_own_message_id() -> None:
    upload = received()
    pinned = table({"profile": "flowcam", "model": "plankton_classifier", "version": 2})
    unpinned = table({"profile": "flowcam", "model": "plankton_classifier"})
    [request] = plan_inference(upload, pinned)
    assert request.model_version == "2", "a YAML number is read as the version's name"
    assert request.message_id != plan_inference(upload, unpinned)[0].message_id


def test_two_pinned_versions_of_one_model_are_two_requests() -> None:
    rule = {
        "profile": "flowcam",
        "models": [{"name": "plankton_classifier", "version": "2"}, {"name": "plankton_classifier", "version": "3"}],
    }
    requests = plan_inference(received(), table(rule))
    assert [(r.model_version, r.primary) for r in requests] == [("2", True), ("3", False)]
    assert requests[0].message_id != requests[1].message_id


def versions_for(rules: RoutingTable, uploads: int) -> Counter[str | None]:
    return Counter(plan_inference(received(f"run/{i:05d}.png"), rules)[0].model_version for i in range(uploads))


def test_a_canary_gets_close_to_its_share_of_uploads() -> None:
    canary = table(
        {"profile": "flowcam", "model": "plankton_classifier", "version": "2", "canary": {"version": "3", "share": 0.1}}
    )
    uploads = 20_000
    split = versions_for(canary, uploads)
    assert set(split) == {"2", "3"}
    # Three standard deviations of a binomial share: sqrt(0.1 * 0.9 / 20000) ≈ 0.0021.
    assert split["3"] / uploads == pytest.approx(0.1, abs=0.0064)


@pytest.mark.parametrize(("share", "expected"), [(0.0, {None: 500}), (1.0, {"3": 500})])
def test_a_canary_share_of_none_or_all(share: float, expected: dict[str | None, int]) -> None:
    canary = table({"profile": "flowcam", "model": "plankton_classifier", "canary": {"version": "3", "share": share}})
    assert versions_for(canary, 500) == expected


def test_the_canary_choice_is_stable_per_object_version() -> None:
    canary = table({"profile": "flowcam", "model": "plankton_classifier", "canary": {"version": "3", "share": 0.5}})
    first = {i: plan_inference(received(f"run/{i}.png"), canary)[0] for i in range(200)}
    again = {i: plan_inference(received(f"run/{i}.png"), canary)[0] for i in range(200)}
    assert {i: (r.model_version, r.message_id) for i, r in first.items()} == {
        i: (r.model_version, r.message_id) for i, r in again.items()
    }
    # Another version of an object (a new upload of the same key) is drawn afresh.
    positions = {canary_position(received("run/1.png", etag=f"e{n}").object, "plankton_classifier") for n in range(50)}
    assert len(positions) == 50
    assert all(0.0 <= p < 1.0 for p in positions)


def test_canaries_of_two_models_pick_independent_uploads() -> None:
    objects = [received(f"run/{i:05d}.png").object for i in range(4000)]
    in_a = {o.key for o in objects if canary_position(o, "plankton_classifier") < 0.5}
    in_b = {o.key for o in objects if canary_position(o, "fish_detector") < 0.5}
    # Independent halves overlap on about a quarter of the uploads, not on all or none.
    assert len(in_a & in_b) / len(objects) == pytest.approx(0.25, abs=0.04)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (
            {"profile": "flowcam", "model": "plankton_classifier", "models": [{"name": "fish_detector"}]},
            "not both",
        ),
        ({"profile": "flowcam", "version": "2", "models": [{"name": "plankton_classifier"}]}, "not both"),
        ({"profile": "flowcam", "canary": {"version": "3", "share": 0.1}}, "belong to a model"),
        (
            {"profile": "flowcam", "models": [{"name": "plankton_classifier"}, {"name": "plankton_classifier"}]},
            "pin a version",
        ),
        (
            {
                "profile": "flowcam",
                "models": [
                    {"name": "plankton_classifier", "version": "2", "canary": {"version": "3", "share": 0.1}},
                    {"name": "plankton_classifier", "version": "3"},
                ],
            },
            "version '3' twice",
        ),
        ({"profile": "flowcam", "model": "x", "version": "2", "canary": {"version": "2", "share": 0.1}}, "canary"),
        ({"model": "plankton_classifier"}, "no profile"),
        ({"profile": "flowcam", "model": "x", "canary": {"version": "3", "share": 1.5}}, "less than or equal"),
        ({"profile": "flowcam", "model": "x", "version": "two words"}, "pattern"),
        ({"profile": "flowcam", "models": []}, "at least 1"),
    ],
)
def test_rules_that_cannot_run_are_refused_at_start(rule: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        table(rule)


def test_the_table_names_every_model_of_every_rule() -> None:
    assert TWO_MODELS.models == {"plankton_classifier", "fish_detector"}
