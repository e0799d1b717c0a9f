"""Two models on the same uploads, on the real broker, MongoDB and S3: results and samples kept apart.

A FlowCam run routed to a classifier (primary; version 2, with a canary on version 3) and
a detector beside it: every upload has one result per model, the sample's own figures and
its completion follow the classifier, the detector's counts stay under its own name, a
detector dead letter counts against the detector only, and the EcoTaxa package holds the
classifier's objects alone.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import httpx
import pytest

from aquaflow_devstack.s3 import S3Server
from aquaflow_results.app import ResultsDeps, create_app
from aquaflow_results.mongo import MongoStore
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_shared.contracts import InferenceCompleted
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.settings import BrokerSettings, S3Settings
from aquaflow_shared.topology import INFERENCE_COMPLETED, SAMPLE_MANIFEST, Topology
from tests.integration.results.test_results_service import LOV, ReadySamples, settings_for
from tests.support.messages import inference_request
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin
from tests.unit.results.factories import detected_particle, manifest_event, particle
from tests.unit.results_ecotaxa.factories import png

pytestmark = pytest.mark.integration

CELLS = [f"run1/cell-00{n}.png" for n in (1, 2, 3)]


def classified(key: str, label: str, version: str, output: str) -> InferenceCompleted:
    return particle(key, label=label).model_copy(
        update={"model_version": version, "requested_version": version, "output_bucket": output}
    )


async def test_each_model_has_its_results_and_figures_and_only_the_primary_is_packaged(
    broker_settings: BrokerSettings,
    rabbit: RabbitAdmin,
    mongodb_url: str,
    database_name: str,
    s3_server: S3Server,
    s3_settings: S3Settings,
) -> None:
    s3 = s3_server.client()
    bucket, output = f"{database_name}-in", f"{database_name}-out"
    for name in (bucket, output):
        s3.create_bucket(Bucket=name)
    manifest = {"sample_id": "run1", "expected_objects": 3, "volume_ml": 2.0}
    s3.put_object(Bucket=bucket, Key="run1/sample.json", Body=json.dumps(manifest).encode())
    classifier = [
        classified(CELLS[0], "copepod", "2", output),
        classified(CELLS[1], "copepod", "2", output),
        classified(CELLS[2], "detritus", "3", output),  # the canary's share
    ]
    on_output = {"output_bucket": output, "model_version": "1"}
    detector = [
        detected_particle(CELLS[0], labels=(("sardine", 0.9), ("sardine", 0.8))).model_copy(update=on_output),
        detected_particle(CELLS[1], labels=(("seabream", 0.7),)).model_copy(update=on_output),
    ]
    for event in classifier + detector:
        for crop in {event.crop_key, *(d.crop_key for d in event.detections)} - {None}:
            s3.put_object(Bucket=output, Key=str(crop), Body=png(), ContentType="image/png")
    failed_detection = inference_request(classifier[2].object, profile="obsea", model="fish_detector").model_copy(
        update={"sample_id": "run1", "primary": False}
    )

    topology = Topology(prefix=broker_settings.prefix)
    ready = ReadySamples()
    deps = ResultsDeps(
        store=MongoStore(mongodb_url, database_name), objects=S3ObjectReader(s3_settings), on_sample_ready=ready
    )
    app = create_app(settings_for(mongodb_url, database_name, broker_settings, s3_settings), deps)

    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://results") as client:
        await rabbit.publish(
            topology.events.name, SAMPLE_MANIFEST, manifest_event(bucket, "run1/sample.json").model_dump_json().encode()
        )
        # Interleaved as two workers would deliver them, with redeliveries of each model's first result.
        for event in (detector[0], classifier[0], detector[1], classifier[1], classifier[0], detector[0]):
            await rabbit.publish(topology.events.name, INFERENCE_COMPLETED, event.model_dump_json().encode())
        await rabbit.publish(
            topology.dead_letters.name,
            "inference.fish_detector.failed",
            failed_detection.model_dump_json().encode(),
            headers={CODE_HEADER: "retries_exhausted", REASON_HEADER: "Triton timed out"},
        )
        await rabbit.publish(topology.events.name, INFERENCE_COMPLETED, classifier[2].model_dump_json().encode())

        async def sample() -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get("/samples/run1", headers=LOV)).json()
            return answer

        def settled(found: dict[str, Any]) -> bool:
            detector_figures = (found.get("models") or {}).get("fish_detector") or {}
            return found.get("results_stored") == 5 and detector_figures.get("failed") == 1

        done = await eventually(sample, until=settled)
        results = (await client.get("/results", headers=LOV, params={"sample_id": "run1"})).json()["items"]
        canary = (await client.get("/results", headers=LOV, params={"model_version": "3"})).json()["items"]
        package = await client.get("/samples/run1/ecotaxa.zip", headers=LOV)

    assert sorted((r["object"]["key"], r["model"]) for r in results) == sorted(
        [(key, "plankton_classifier") for key in CELLS] + [(key, "fish_detector") for key in CELLS[:2]]
    )
    assert [(r["object"]["key"], r["model_version"], r["requested_version"]) for r in canary] == [(CELLS[2], "3", "3")]

    # The sample's own figures are the classifier's, and it completed on the classifier's three uploads.
    assert (done["processed"], done["failed"], done["complete"]) == (3, 0, True)
    assert (done["objects"], done["counts"]) == (3, {"copepod": 2, "detritus": 1})
    assert ("lov", "run1") in ready.calls
    models = done["models"]
    assert set(models) == {"plankton_classifier", "fish_detector"}
    clf, det = models["plankton_classifier"], models["fish_detector"]
    assert (clf["primary"], clf["processed"], clf["counts"]) == (True, 3, done["counts"])
    assert [(v["version"], v["processed"], v["counts"]) for v in clf["versions"]] == [
        ("2", 2, {"copepod": 2}),
        ("3", 1, {"detritus": 1}),
    ]
    assert (det["primary"], det["processed"], det["failed"], det["objects"]) == (False, 2, 1, 3)
    assert det["counts"] == {"sardine": 2, "seabream": 1}
    assert det["abundance"]["by_class"] == {"sardine": 1.0, "seabream": 0.5}

    assert package.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    [table] = [n for n in archive.namelist() if n.endswith(".tsv")]
    rows = list(csv.DictReader(io.StringIO(archive.read(table).decode("utf-8-sig")), delimiter="\t"))[1:]
    classifier_objects = {o["object_id"] for r in results if r["model"] == "plankton_classifier" for o in r["objects"]}
    assert {row["object_id"] for row in rows} == classifier_objects
    assert {row["process_model"] for row in rows} == {"plankton_classifier"}
