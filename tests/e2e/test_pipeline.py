"""The whole flow, every service its own process, on real RabbitMQ, moto S3 and Triton.

Real plankton images are uploaded and announced in MinIO's notification format;
every image must end with exactly one stored result and one result event, the
corrupted images in the dead-letter queue with a readable reason, and a
duplicated notification must not create a second result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aquaflow_devstack.observe import ObservedDeadLetter, stored_results, take_dead_letters
from aquaflow_devstack.samples import Sample, real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.settings import BrokerSettings
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

BUCKET = "plankton-flowcam"
ZOOSCAN_BUCKET = "plankton-zooscan"
LABELS = Path(__file__).resolve().parents[2] / "model_repository" / "plankton_classifier" / "labels.txt"


@pytest.fixture
def stack(broker_settings: BrokerSettings, triton: Any, tmp_path: Path) -> Iterator[NativeStack]:
    config = StackConfig(
        prefix=broker_settings.prefix,
        workdir=tmp_path,
        buckets={BUCKET: "lov", ZOOSCAN_BUCKET: "lov"},
        broker_url=broker_settings.url.get_secret_value(),
        triton_grpc_url=triton.grpc_url,
    )
    with NativeStack(config) as running:
        yield running


def chosen_samples() -> tuple[list[Sample], list[Sample]]:
    samples = real_images()
    good = [s for s in samples if not s.corrupt and s.key.startswith(("images/", "ref_exports/doi/", "import_sparse/"))]
    return good, [s for s in samples if s.corrupt]


async def test_uploads_end_as_one_result_each_and_corrupt_images_as_dead_letters(
    stack: NativeStack, rabbit: RabbitAdmin
) -> None:
    good, corrupt = chosen_samples()
    assert len(good) >= 15
    assert len(corrupt) >= 3
    announced = await rabbit.tap(stack.topology.events.name, "result.#")

    events = [stack.upload(BUCKET, s.key, s.path.read_bytes()) for s in good + corrupt]
    await stack.notify(events)
    await stack.notify([events[0], events[1]])  # MinIO retrying: the same object versions again

    def by_key(results: list[dict[str, Any]]) -> Counter[str]:
        return Counter(r["object"]["key"] for r in results)

    results = await eventually(
        lambda: stored_results(stack.results_url, stack.api_token("lov"), bucket=BUCKET),
        until=lambda r: set(by_key(r)) >= {s.key for s in good},
        timeout=180,
    )
    dead: list[ObservedDeadLetter] = []

    async def collect_dead() -> list[ObservedDeadLetter]:
        dead.extend(await take_dead_letters(rabbit.url, stack.topology.dead_letter_queue.name))
        return dead

    await eventually(collect_dead, until=lambda d: {x.key for x in d} >= {s.key for s in corrupt}, timeout=60)
    # The result event is published after the result is stored: wait for it too.
    event_bodies = await eventually(
        announced.bodies, until=lambda e: {x["object"]["key"] for x in e} >= {s.key for s in good}, timeout=30
    )

    assert by_key(results) == Counter({s.key: 1 for s in good})
    assert Counter(e["object"]["key"] for e in event_bodies) == Counter({s.key: 1 for s in good})
    assert all(e["tenant"] == "lov" and e["profile"] == "flowcam" for e in event_bodies)
    labels = set(LABELS.read_text().split())
    assert {r["classification"]["label"] for r in results} <= labels
    assert {d.key for d in dead} == {s.key for s in corrupt}, "only the corrupted images may be dead-lettered"
    for letter in dead:
        assert letter.stage.startswith("inference")
        assert "image" in letter.reason.lower(), letter.reason


async def test_zooscan_scans_are_segmented_and_each_region_classified(stack: NativeStack) -> None:
    scans = [s for s in real_images() if s.key.startswith("import_test/m106_mn01_n1_sml/")]
    assert len(scans) >= 3
    await stack.notify([stack.upload(ZOOSCAN_BUCKET, s.key, s.path.read_bytes()) for s in scans])
    results = await eventually(
        lambda: stored_results(stack.results_url, stack.api_token("lov"), bucket=ZOOSCAN_BUCKET),
        until=lambda r: len(r) >= len(scans),
        timeout=120,
    )
    labels = set(LABELS.read_text().split())
    assert {r["object"]["key"] for r in results} == {s.key for s in scans}
    for result in results:
        assert result["profile"] == "zooscan"
        assert result["regions"], result["object"]["key"]
        assert sum(result["counts"].values()) == len(result["regions"])
        assert all(region["classification"]["label"] in labels for region in result["regions"])
        assert {"object_area", "object_esd", "object_circularity"} <= set(result["regions"][0]["features"])
        assert result["summary"]["regions"] == len(result["regions"])
