"""One routing rule, two models: every upload gets a result from each, kept apart in its sample.

A FlowCam run is routed to a rule naming ``plankton_classifier`` (the primary model) and
``fish_detector`` beside it, every service its own process on real RabbitMQ, S3, MongoDB,
Triton and the EcoTaxa stand-in. Each upload ends with two results, one per model; the
sample's own figures and its completion follow the classifier; each model's counts are
under its own name; the EcoTaxa push sends the classifier's objects only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aquaflow_devstack.observe import stored_results, stored_sample
from aquaflow_devstack.samples import Sample, real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.settings import BrokerSettings
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

TENANT = "lov"
BUCKET = "plankton-flowcam"
SAMPLE_ID = "fc_two_models"
MODELS = ("plankton_classifier", "fish_detector")
ROUTING = f"""
rules:
  - name: flowcam-classified-and-detected
    match: {{bucket: {BUCKET}}}
    profile: flowcam
    models:
      - {{name: plankton_classifier}}
      - {{name: fish_detector, profile: obsea}}
    sample: {{from: key, pattern: "{{sample}}/**"}}
"""


@pytest.fixture
def stack(broker_settings: BrokerSettings, triton: Any, tmp_path: Path) -> Iterator[NativeStack]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    config = StackConfig(
        prefix=broker_settings.prefix,
        workdir=tmp_path,
        buckets={BUCKET: TENANT},
        models=MODELS,
        routing_table=routing,
        broker_url=broker_settings.url.get_secret_value(),
        triton_grpc_url=triton.grpc_url,
        ecotaxa=True,
    )
    with NativeStack(config) as running:
        yield running


def particles() -> list[Sample]:
    return [s for s in real_images() if s.key.startswith("ref_exports/doi/images/")][:5]


def predicted(results: list[dict[str, Any]]) -> tuple[Counter[str], int]:
    labels = [o["label"] for r in results for o in r["objects"]]
    return Counter(label for label in labels if label is not None), sum(1 for label in labels if label is None)


async def test_an_upload_routed_to_two_models_has_two_results_aggregated_apart(stack: NativeStack) -> None:
    images = particles()
    assert len(images) >= 3
    manifest = {"sample_id": SAMPLE_ID, "volume_ml": 2.0, "expected_objects": len(images)}
    events = [stack.upload(BUCKET, f"{SAMPLE_ID}/sample.json", json.dumps(manifest).encode())]
    events += [stack.upload(BUCKET, f"{SAMPLE_ID}/{s.path.name}", s.path.read_bytes()) for s in images]
    await stack.notify(events)
    token = stack.api_token(TENANT)

    results = await eventually(
        lambda: stored_results(stack.results_url, token, sample_id=SAMPLE_ID),
        until=lambda found: len(found) >= 2 * len(images),
        timeout=180,
    )

    def settled(sample: dict[str, Any] | None) -> bool:
        figures = sample or {}
        pushed = (figures.get("push") or {}).get("state") == "done"
        return pushed and figures.get("results_stored") == 2 * len(images)

    sample = await eventually(lambda: stored_sample(stack.results_url, token, SAMPLE_ID), until=settled, timeout=60)
    assert sample is not None

    keys = {f"{SAMPLE_ID}/{s.path.name}" for s in images}
    assert Counter((r["object"]["key"], r["model"]) for r in results) == Counter(
        {(key, model): 1 for key in keys for model in MODELS}
    )
    by_model = {model: [r for r in results if r["model"] == model] for model in MODELS}
    assert {(r["profile"], r["primary"]) for r in by_model["plankton_classifier"]} == {("flowcam", True)}
    assert {(r["profile"], r["primary"]) for r in by_model["fish_detector"]} == {("obsea", False)}
    assert all(r["model_version"] for r in results), "each result records the version that ran"

    # The sample completes on the classifier, and its own figures are the classifier's.
    assert (sample["processed"], sample["expected_objects"], sample["complete"]) == (len(images), len(images), True)
    assert set(sample["models"]) == set(MODELS)
    for model, figures in sample["models"].items():
        counts, unclassified = predicted(by_model[model])
        objects = sum(len(r["objects"]) for r in by_model[model])
        assert (figures["processed"], figures["objects"]) == (len(images), objects), model
        assert (figures["counts"], figures["unclassified"]) == (dict(counts), unclassified), model
        assert [v["version"] for v in figures["versions"]] == sorted({r["model_version"] for r in by_model[model]})
    classifier = sample["models"]["plankton_classifier"]
    assert (classifier["primary"], sample["models"]["fish_detector"]["primary"]) == (True, False)
    assert (sample["counts"], sample["objects"]) == (classifier["counts"], classifier["objects"])

    # EcoTaxa received the primary model's objects, one per particle, and none of the detector's.
    assert stack.ecotaxa is not None
    imported = [o for o in stack.ecotaxa.objects(stack.ecotaxa_project(TENANT)) if o["sample_id"] == SAMPLE_ID]
    assert {o["orig_id"] for o in imported} == {
        o["object_id"] for r in by_model["plankton_classifier"] for o in r["objects"]
    }
