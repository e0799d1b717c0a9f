"""Inference events as the inference service sends them, with samples, crops and score vectors."""

from __future__ import annotations

from aquaflow_shared.contracts import (
    BoundingBox,
    Classification,
    Detection,
    InferenceCompleted,
    LabelScore,
    ObjectRef,
    Region,
    SampleManifestReceived,
    derive_id,
)

CLASSES = ("copepod", "diatom_chain", "detritus")


def _completed(obj: ObjectRef, model: str, tenant: str, **fields: object) -> InferenceCompleted:
    return InferenceCompleted(
        message_id=derive_id("inference.completed", *obj.identity, model),
        correlation_id=obj.upload_id(),
        tenant=tenant,
        object=obj,
        model=model,
        model_version="3",
        inference_ms=2.0,
        route="test-rule",
        **fields,  # type: ignore[arg-type]
    )


def particle(
    key: str = "run1/cell-001.png",
    *,
    label: str = "copepod",
    score: float = 0.91,
    sample_id: str | None = "run1",
    tenant: str = "lov",
    etag: str = "e1",
    metadata: dict[str, str] | None = None,
) -> InferenceCompleted:
    """One FlowCam particle, classified, with its crop written."""
    obj = ObjectRef(bucket="plankton-flowcam", key=key, etag=etag, metadata=metadata or {})
    rest = (1.0 - score) / (len(CLASSES) - 1)
    scores = {c: (score if c == label else rest) for c in CLASSES}
    return _completed(
        obj,
        "plankton_classifier",
        tenant,
        profile="flowcam",
        image_width=120,
        image_height=80,
        classification=Classification(
            label=label, score=score, top=[LabelScore(label=label, score=score)], scores=scores
        ),
        sample_id=sample_id,
        output_bucket="aquaflow-output",
        crop_key=f"crops/{key}.png",
    )


def scan(
    key: str = "scan7.png",
    *,
    labels: tuple[tuple[str, float], ...] = (("copepod", 0.9), ("copepod", 0.3), ("diatom_chain", 0.8)),
    sample_id: str | None = "scan7",
    tenant: str = "lov",
) -> InferenceCompleted:
    """A segmented ZooScan scan: one region per (label, score), ESD 10, 20, 30… pixels."""
    obj = ObjectRef(bucket="plankton-zooscan", key=key, etag="e2")
    regions = [
        Region(
            index=i,
            box=BoundingBox(x_min=10 * i, y_min=5, x_max=10 * i + 8, y_max=12),
            features={"object_area": 40.0 + i, "object_esd": 10.0 * (i + 1)},
            classification=Classification(label=label, score=score, scores={label: score}),
            crop_key=f"crops/{key}/{i}.png",
        )
        for i, (label, score) in enumerate(labels)
    ]
    return _completed(
        obj,
        "plankton_classifier",
        tenant,
        profile="zooscan",
        image_width=400,
        image_height=300,
        regions=regions,
        counts={},
        sample_id=sample_id,
        output_bucket="aquaflow-output",
    )


def detected_particle(
    key: str = "run1/cell-001.png",
    *,
    labels: tuple[tuple[str, float], ...] = (("sardine", 0.9),),
    sample_id: str | None = "run1",
    etag: str = "e1",
) -> InferenceCompleted:
    """A detector run on the same FlowCam upload as ``particle``, as a rule's second model."""
    obj = ObjectRef(bucket="plankton-flowcam", key=key, etag=etag)
    detections = [
        Detection(
            label=label,
            score=score,
            box=BoundingBox(x_min=10 * i, y_min=2, x_max=10 * i + 9, y_max=20),
            crop_key=f"crops/{key}/fish-{i}.png",
        )
        for i, (label, score) in enumerate(labels)
    ]
    return _completed(
        obj,
        "fish_detector",
        "lov",
        profile="obsea",
        image_width=120,
        image_height=80,
        detections=detections,
        sample_id=sample_id,
        output_bucket="aquaflow-output",
        primary=False,
    )


def frame(key: str = "cam/frame1.jpg") -> InferenceCompleted:
    obj = ObjectRef(bucket="obsea-frames", key=key, etag="e3")
    detections = [
        Detection(label="sea_bream", score=0.8, box=BoundingBox(x_min=1, y_min=2, x_max=30, y_max=40), crop_key="c/0"),
        Detection(label="sea_bream", score=0.2, box=BoundingBox(x_min=50, y_min=2, x_max=80, y_max=40)),
    ]
    return _completed(
        obj, "fish_detector", "lov", profile="obsea", image_width=320, image_height=320, detections=detections
    )


def drone(key: str = "flight/img1.jpg") -> InferenceCompleted:
    obj = ObjectRef(bucket="drone-images", key=key, etag="e4")
    regions = [
        Region(
            index=i,
            box=BoundingBox(x_min=64 * i, y_min=0, x_max=64 * i + 64, y_max=64),
            classification=Classification(label=label, score=0.9),
        )
        for i, label in enumerate(["water", "litter", "other", "litter"])
    ]
    return _completed(
        obj,
        "litter_tiles",
        "lov",
        profile="litter",
        image_width=256,
        image_height=64,
        regions=regions,
        measures={"litter_fraction": 0.5},
    )


def manifest_event(bucket: str, key: str, *, tenant: str = "lov", etag: str = "m1") -> SampleManifestReceived:
    obj = ObjectRef(bucket=bucket, key=key, etag=etag)
    return SampleManifestReceived(
        message_id=derive_id("sample.manifest", *obj.identity),
        correlation_id=obj.upload_id(),
        tenant=tenant,
        object=obj,
        route="manifests",
    )
