"""Stored result documents and their EcoTaxa objects: one per particle, region or detection."""

from __future__ import annotations

from datetime import UTC, datetime

from aquaflow_results.documents import (
    DeadLetterCopy,
    failure_document,
    result_document,
    result_event,
    result_id,
    summarize,
)
from aquaflow_results.objects import object_id, result_objects
from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.contracts import InferenceRequested, derive_id
from tests.unit.results.factories import drone, frame, particle, scan

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OBJECT_KEYS = {"object_id", "index", "crop_key", "box", "features", "label", "score", "scores", "status", "threshold"}


def test_a_particle_is_one_object_with_the_image_crop_and_full_scores() -> None:
    completed = particle()
    [entry] = result_objects(completed, ConfidenceThresholds())
    assert set(entry) == OBJECT_KEYS
    assert entry["crop_key"] == "crops/run1/cell-001.png.png"
    assert entry["box"] == {"x_min": 0.0, "y_min": 0.0, "x_max": 120.0, "y_max": 80.0}
    assert entry["label"] == "copepod"
    assert entry["status"] == "predicted"
    assert set(entry["scores"]) == {"copepod", "diatom_chain", "detritus"}
    assert entry["object_id"].startswith("run1_cell-001_0000_")


def test_a_vignette_object_carries_its_measured_organism_features() -> None:
    completed = particle().model_copy(
        update={"measures": {"object_area": 812.0, "object_esd": 32.15, "regions_found": 1.0}}
    )
    [entry] = result_objects(completed, ConfidenceThresholds())
    # The organism's measures become the EcoTaxa object's features; pipeline counters do not.
    assert entry["features"] == {"object_area": 812.0, "object_esd": 32.15}


def test_regions_below_their_threshold_stay_unclassified() -> None:
    thresholds = ConfidenceThresholds({"plankton_classifier/diatom_chain": 0.85}, default=0.5)
    entries = result_objects(scan(), thresholds)
    assert [(e["index"], e["label"], e["status"], e["threshold"]) for e in entries] == [
        (0, "copepod", "predicted", 0.5),
        (1, None, "unclassified", 0.5),
        (2, None, "unclassified", 0.85),
    ]
    assert entries[1]["score"] == 0.3
    assert entries[2]["features"]["object_esd"] == 30.0
    assert entries[2]["crop_key"] == "crops/scan7.png/2.png"


def test_detections_and_litter_tiles_become_objects() -> None:
    detections = result_objects(frame(), ConfidenceThresholds())
    assert [(e["label"], e["status"], e["crop_key"]) for e in detections] == [
        ("sea_bream", "predicted", "c/0"),
        (None, "unclassified", None),
    ]
    litter = result_objects(drone(), ConfidenceThresholds())
    assert [e["index"] for e in litter] == [1, 3]


def test_object_ids_are_deterministic_and_unique_per_version_and_sample() -> None:
    assert object_id(particle(), 0) == object_id(particle(), 0)
    assert object_id(particle(), 0) != object_id(particle(etag="e9"), 0)
    assert object_id(particle(), 0) != object_id(particle(sample_id="run2"), 0)
    assert object_id(particle(key="odd name/é#1.png"), 3).startswith("run1_1_0003_")


def test_thresholds_prefer_the_most_specific_key() -> None:
    thresholds = ConfidenceThresholds({"m": 0.7, "m/a": 0.9}, default=0.4)
    assert thresholds.for_label("m", "a") == 0.9
    assert thresholds.for_label("m", "b") == 0.7
    assert thresholds.for_label("other", "a") == 0.4
    assert thresholds.applying_to("m") == {"default": 0.4, "m": 0.7, "m/a": 0.9}


def test_document_keeps_what_ecotaxa_and_people_need() -> None:
    completed = particle()
    doc = result_document(completed, NOW, ConfidenceThresholds({"plankton_classifier": 0.6}))
    assert doc["_id"] == result_id(completed)
    assert doc["model"] == "plankton_classifier"
    assert doc["model_version"] == "3"
    assert doc["route"] == "test-rule"
    assert doc["sample_id"] == "run1"
    assert doc["output_bucket"] == "aquaflow-output"
    assert doc["object_version"] == {"etag": "e1", "version_id": None}
    assert doc["thresholds"] == {"default": 0.5, "plankton_classifier": 0.6}
    assert doc["classification"]["scores"]["copepod"] == 0.91
    assert doc["objects"][0]["threshold"] == 0.6
    assert doc["inference_message_id"] == completed.message_id
    assert doc["event_published_at"] is None


def test_event_names_the_sample() -> None:
    event = result_event(particle(), NOW)
    assert event.sample_id == "run1"
    assert event.summary == {"label": "copepod", "score": 0.91}


def test_summary_counts_regions_and_measures() -> None:
    assert summarize(scan())["regions"] == 3
    assert summarize(drone())["litter_fraction"] == 0.5


def test_a_pinned_version_is_part_of_a_results_identity() -> None:
    unpinned = particle()
    v2 = particle().model_copy(update={"requested_version": "2", "model_version": "2"})
    v3 = particle().model_copy(update={"requested_version": "3", "model_version": "3", "primary": False})
    # Unpinned requests keep the ids results always had: one per object version and model.
    assert result_id(unpinned) == derive_id("result", *unpinned.object.identity, "plankton_classifier")
    assert len({result_id(unpinned), result_id(v2), result_id(v3)}) == 3
    assert object_id(v2, 0) != object_id(v3, 0)
    assert object_id(unpinned, 0) == object_id(particle(), 0)
    stored = result_document(v3, NOW, ConfidenceThresholds())
    assert (stored["model_version"], stored["requested_version"], stored["primary"]) == ("3", "3", False)
    assert result_event(v3, NOW).model_version == "3"


def test_a_failed_request_is_keyed_by_the_result_it_would_have_had() -> None:
    completed = particle().model_copy(update={"requested_version": "3", "primary": False})
    request = InferenceRequested(
        message_id="m" * 16,
        correlation_id=completed.correlation_id,
        tenant=completed.tenant,
        object=completed.object,
        profile=completed.profile,
        model=completed.model,
        route=completed.route,
        sample_id=completed.sample_id,
        model_version="3",
        primary=False,
    )
    failed = failure_document(request, DeadLetterCopy(b"{}", "corrupt_image", "truncated"), NOW)
    assert failed["_id"] == result_id(completed)
    assert (failed["model"], failed["requested_version"], failed["primary"]) == ("plankton_classifier", "3", False)
