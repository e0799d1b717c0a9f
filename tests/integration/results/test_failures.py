"""Failed uploads count against their sample: a sample with a corrupt image still completes by itself."""

from __future__ import annotations

import json

import httpx
import pytest

from aquaflow_devstack.s3 import S3Server
from aquaflow_results.app import ResultsDeps, create_app
from aquaflow_results.mongo import MongoStore
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.settings import BrokerSettings, S3Settings
from aquaflow_shared.topology import INFERENCE_COMPLETED, SAMPLE_MANIFEST, Topology
from tests.integration.results.test_results_service import LOV, ReadySamples, settings_for
from tests.support.messages import inference_request
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin
from tests.unit.results.factories import manifest_event, particle

pytestmark = pytest.mark.integration


async def test_a_dead_lettered_upload_is_counted_failed_once_and_completes_its_sample(
    broker_settings: BrokerSettings,
    rabbit: RabbitAdmin,
    mongodb_url: str,
    database_name: str,
    s3_server: S3Server,
    s3_settings: S3Settings,
) -> None:
    bucket = f"{database_name}-in"
    s3_server.client().create_bucket(Bucket=bucket)
    manifest = {"sample_id": "run1", "expected_objects": 3, "volume_ml": 1.0}
    s3_server.client().put_object(Bucket=bucket, Key="run1/sample.json", Body=json.dumps(manifest).encode())
    topology = Topology(prefix=broker_settings.prefix)
    ready = ReadySamples()
    store = MongoStore(mongodb_url, database_name)
    deps = ResultsDeps(store=store, objects=S3ObjectReader(s3_settings), on_sample_ready=ready)
    app = create_app(settings_for(mongodb_url, database_name, broker_settings, s3_settings), deps)
    corrupt = ObjectRef(bucket="plankton-flowcam", key="run1/cell-003.png", etag="c3")
    request = inference_request(corrupt, profile="flowcam", model="plankton_classifier").model_copy(
        update={"sample_id": "run1"}
    )
    headers = {CODE_HEADER: "corrupt_image", REASON_HEADER: "image data is truncated"}

    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://results") as client:
        await rabbit.publish(
            topology.events.name, SAMPLE_MANIFEST, manifest_event(bucket, "run1/sample.json").model_dump_json().encode()
        )
        for event in (particle("run1/cell-001.png"), particle("run1/cell-002.png")):
            await rabbit.publish(topology.events.name, INFERENCE_COMPLETED, event.model_dump_json().encode())
        # The dead-letter exchange copies the inference dead letter to results, here twice (a redelivery).
        for _ in range(2):
            await rabbit.publish(
                topology.dead_letters.name,
                "inference.plankton_classifier.failed",
                request.model_dump_json().encode(),
                headers=headers,
            )

        async def sample() -> dict[str, object]:
            answer: dict[str, object] = (await client.get("/samples/run1", headers=LOV)).json()
            return answer

        done = await eventually(sample, until=lambda s: s.get("complete") is True and s.get("processed") == 2)
        kept = await rabbit.queue_messages(topology.dead_letter_queue.name)

    assert done["failed"] == 1
    assert done["expected_objects"] == 3
    assert ("lov", "run1") in ready.calls
    assert len(kept) == 2  # the operators' copies stay in the dead-letter queue
