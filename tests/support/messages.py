"""Building valid messages for tests, as the upstream stage would."""

from __future__ import annotations

from aquaflow_shared.contracts import (
    BoundingBox,
    Classification,
    InferenceCompleted,
    InferenceRequested,
    LabelScore,
    ObjectRef,
    Region,
    derive_id,
)


def completed_classification(
    key: str = "run 1/cell.png", *, bucket: str = "plankton-flowcam", etag: str = "e1", label: str = "copepod"
) -> InferenceCompleted:
    obj = ObjectRef(bucket=bucket, key=key, etag=etag, size=1234, content_type="image/png")
    return InferenceCompleted(
        message_id=derive_id("inference.completed", *obj.identity, "plankton_classifier"),
        correlation_id=obj.upload_id(),
        tenant="lov",
        object=obj,
        profile="flowcam",
        model="plankton_classifier",
        model_version="1",
        image_width=120,
        image_height=80,
        classification=Classification(label=label, score=0.91, top=[LabelScore(label=label, score=0.91)]),
        inference_ms=3.2,
    )


def completed_regions(key: str = "scan 7.png") -> InferenceCompleted:
    obj = ObjectRef(bucket="plankton-zooscan", key=key, etag="e2")
    regions = [
        Region(
            index=i,
            box=BoundingBox(x_min=10 * i, y_min=5, x_max=10 * i + 8, y_max=12),
            features={"object_area": 40.0 + i},
            classification=Classification(label=label, score=0.8),
        )
        for i, label in enumerate(["copepod", "copepod", "diatom_chain"])
    ]
    return InferenceCompleted(
        message_id=derive_id("inference.completed", *obj.identity, "plankton_classifier"),
        correlation_id=obj.upload_id(),
        tenant="lov",
        object=obj,
        profile="zooscan",
        model="plankton_classifier",
        model_version="1",
        image_width=400,
        image_height=300,
        regions=regions,
        counts={"copepod": 2, "diatom_chain": 1},
        inference_ms=9.0,
    )


def inference_request(obj: ObjectRef, *, profile: str, model: str) -> InferenceRequested:
    """The request the router would send for ``obj`` (same deterministic id)."""
    return InferenceRequested(
        message_id=derive_id("inference.requested", *obj.identity, model),
        correlation_id=obj.upload_id(),
        tenant="lov",
        object=obj,
        profile=profile,
        model=model,
        route="test",
    )
