"""Every kind of bad input, through the whole running stack, ends as one clear dead letter.

One native stack (every service its own process) takes all the bad inputs at once,
together with real images as controls. Each bad input must be dead-lettered with its
code, by the stage that can tell, with a readable reason; nothing else may be
dead-lettered, and every control must end with exactly one stored result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from aquaflow_devstack.hostile_inputs import corrupted, nested_zip, pixel_bomb, zip_bomb, zip_of, zip_with_symlink
from aquaflow_devstack.observe import ObservedDeadLetter, stored_results, take_dead_letters
from aquaflow_devstack.rabbitmq import delete_topology
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.contracts import ObjectReceived, ObjectRef, derive_id
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION, UNROUTABLE_STAGE, inference_requested
from tests.e2e.bad_inputs import Case, foreign_notification, notification_with_key
from tests.support.messages import inference_request
from tests.support.polling import eventually
from tests.support.rabbit import RABBIT_URL, ensure_rabbitmq, unique_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

BUCKET = "plankton-flowcam"
TENANT = "lov"
MODEL = "plankton_classifier"
INFERENCE = f"inference.{MODEL}"
# Small enough for a test object to cross it, large enough for every control image.
MAX_OBJECT_BYTES = 256 * 1024
# The archive nesting the stack allows (the upload is depth 1).
MAX_DEPTH = 2
DEADLINE_SECONDS = 45.0

# Cases a known bug keeps from ending as they must, each with the bug it names: they run
# as strict xfails, and the collection waits for them only until the deadline.
KNOWN_BUGS: dict[str, str] = {}


@dataclass
class Outcome:
    cases: dict[str, Case]
    strays: list[ObservedDeadLetter]
    controls: Counter[str]
    control_keys: list[str]
    # Keys of stored results that are not controls: none may exist.
    others: list[str]


@pytest.fixture(scope="module")
def stack(triton: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    ensure_rabbitmq()
    config = StackConfig(
        prefix=unique_prefix("bad"),
        workdir=tmp_path_factory.mktemp("bad-inputs"),
        buckets={BUCKET: TENANT},
        broker_url=RABBIT_URL,
        triton_grpc_url=triton.grpc_url,
        extra_env={
            "AQUAFLOW_S3_MAX_OBJECT_BYTES": str(MAX_OBJECT_BYTES),
            "AQUAFLOW_INGEST_ARCHIVE_MAX_DEPTH": str(MAX_DEPTH),
            # A failure wrongly taken for a passing one shows as retries_exhausted quickly.
            "AQUAFLOW_BROKER_MAX_ATTEMPTS": "2",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_SECONDS": "0.2",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_MAX_SECONDS": "0.5",
        },
    )
    with NativeStack(config) as running:
        yield running
    asyncio.run(delete_topology(config.broker_url, config.prefix, config.models))


def _controls() -> list[Path]:
    chosen = [s.path for s in real_images() if not s.corrupt and s.key.startswith(("images/", "import_sparse/"))]
    assert len(chosen) >= 4
    assert all(p.stat().st_size < MAX_OBJECT_BYTES for p in chosen)
    return chosen


def _real(suffix: str) -> bytes:
    """The largest control image of that format (truncating a larger one leaves more to misread)."""
    paths = [p for p in _controls() if p.suffix.lower() == suffix]
    return max(paths, key=lambda p: p.stat().st_size).read_bytes()


class Sender:
    """Builds every bad input, puts its objects into S3 and publishes what announces it."""

    def __init__(self, stack: NativeStack) -> None:
        self.stack = stack
        assert stack.s3 is not None
        self.s3 = stack.s3.client()
        self.cases: dict[str, Case] = {}
        self.notifications: list[tuple[bytes, str]] = []  # (body, message_id)
        self.events: list[tuple[str, bytes, str]] = []  # (routing key, body, message_id)

    def _case(self, name: str, code: str, stage: str, **fields: Any) -> Case:
        case = Case(name, code, stage, **fields)
        self.cases[name] = case
        return case

    def upload(
        self, name: str, code: str, stage: str, key: str, body: bytes, *, names: tuple[str, ...] | None = None
    ) -> None:
        """Put ``body`` at ``key`` and announce it as MinIO does; the reason names the key unless told otherwise."""
        event = self.stack.upload(BUCKET, key, body)
        self._announced(name, code, stage, key, event, names=(key,) if names is None else names)

    def _announced(
        self, name: str, code: str, stage: str, key: str, event: dict[str, Any], *, names: tuple[str, ...]
    ) -> None:
        message_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self._case(name, code, stage, bucket=BUCKET, key=key, message_id=message_id, reason_names=names)
        self.notifications.append((json.dumps(event).encode(), message_id))

    def raw_notification(self, name: str, code: str, body: bytes, *, names: tuple[str, ...] = ()) -> None:
        message_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self._case(name, code, "ingest", message_id=message_id, reason_names=names)
        self.notifications.append((body, message_id))

    def deleted_before_processing(self, name: str, key: str, body: bytes) -> None:
        event = self.stack.upload(BUCKET, key, body)
        self.s3.delete_object(Bucket=BUCKET, Key=key)
        self._announced(name, "object_missing", INFERENCE, key, event, names=(key,))

    def event(
        self,
        name: str,
        code: str,
        stage: str,
        routing_key: str,
        body: bytes,
        message_id: str,
        *,
        names: tuple[str, ...],
    ) -> None:
        obj = object_of_event(body)
        self._case(name, code, stage, bucket=obj[0], key=obj[1], message_id=message_id, reason_names=names)
        self.events.append((routing_key, body, message_id))

    async def publish(self) -> None:
        topology = self.stack.topology
        connection = await aio_pika.connect(self.stack.config.broker_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            notifications = await channel.declare_exchange(
                topology.notifications.name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            events = await channel.declare_exchange(
                topology.events.name,
                aio_pika.ExchangeType.TOPIC,
                durable=True,
                arguments=dict(topology.events.arguments or {}),
            )
            for body, message_id in self.notifications:
                await notifications.publish(_message(body, message_id), routing_key=S3_NOTIFICATION)
            for routing_key, body, message_id in self.events:
                await events.publish(_message(body, message_id), routing_key=routing_key)


def _message(body: bytes, message_id: str) -> aio_pika.Message:
    return aio_pika.Message(
        body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, content_type="application/json"
    )


def object_of_event(body: bytes) -> tuple[str, str]:
    obj = json.loads(body)["object"]
    return (str(obj["bucket"]), str(obj["key"]))


def plan(sender: Sender) -> None:
    """Every bad input of the catalogue, each its own case."""
    png, jpeg = _real(".png"), _real(".jpg")
    up = sender.upload
    # Images that only a full decode can tell apart from good ones: inference's to refuse.
    up("truncated_png", "corrupt_image", INFERENCE, "bad/truncated.png", png[: len(png) // 2], names=())
    up("truncated_jpeg", "corrupt_image", INFERENCE, "bad/truncated.jpg", jpeg[: len(jpeg) // 2], names=())
    up("corrupt_image_bytes", "corrupt_image", INFERENCE, "bad/corrupt.png", corrupted(png), names=())
    text = b"station,depth\nrade-1,12.5\n" * 20
    up("text_named_png", "not_an_image", INFERENCE, "bad/not-an-image.png", text, names=())
    up("decompression_bomb", "decompression_bomb", INFERENCE, "bad/pixel-bomb.png", pixel_bomb(), names=())
    # Archives: ingest's to refuse before any member enters the pipeline.
    up("zip_bomb", "archive_ratio", "ingest", "bad/zip-bomb.zip", zip_bomb(), names=("zeros.png",))
    slip = zip_of({"../../x.png": png})
    up("zip_slip", "archive_unsafe_path", "ingest", "bad/zip-slip.zip", slip, names=("../../x.png",))
    nested = nested_zip(MAX_DEPTH + 1, png)
    up("nested_too_deep", "archive_nested", "ingest", "bad/nested.zip", nested, names=("level-1.zip",))
    up("symlink_in_archive", "archive_link", "ingest", "bad/symlink.zip", zip_with_symlink(), names=("passwd.png",))
    corrupt_zip = b"PK\x03\x04" + b"this is not the rest of a zip archive" * 8
    up("corrupt_archive", "archive_corrupt", "ingest", "bad/corrupt.zip", corrupt_zip, names=("zip",))
    # Objects ingest refuses from the notification alone.
    up("empty_object", "empty_object", "ingest", "bad/empty.png", b"")
    oversize = bytes(range(256)) * (MAX_OBJECT_BYTES // 256 + 64)
    up("oversize_object", "oversize", "ingest", "bad/oversize.png", oversize)
    sender.deleted_before_processing("deleted_before_processing", "bad/deleted.png", png)
    # Notifications that are not what they claim to be.
    raw = sender.raw_notification
    raw("notification_not_json", "malformed", b"{this is not json", names=("not JSON",))
    raw("notification_foreign_shape", "malformed", foreign_notification(BUCKET), names=("azure:blob",))
    raw("notification_invalid_utf8", "malformed", b'{"Records": "\xff\xfe"}', names=("utf-8",))
    bad_utf8 = "bad%FF%FEkey.png"
    raw("key_invalid_utf8", "malformed", notification_with_key(BUCKET, bad_utf8), names=(bad_utf8,))
    traversal = notification_with_key(BUCKET, "..%2F..%2Fetc%2Fpasswd")
    raw("key_path_traversal", "unsafe_key", traversal, names=("../../etc/passwd",))
    # The reason shows the key escaped, so it stays one printable line.
    control = notification_with_key(BUCKET, "bad%2Fa%0Ab%1B.png")
    raw("key_control_characters", "unsafe_key", control, names=(repr("bad/a\nb\x1b.png"),))
    # Events past ingest: a foreign schema, a model nobody serves, an upload no rule takes.
    foreign = _object_received("bad/foreign-schema.png")
    foreign_body = json.loads(foreign.model_dump_json()) | {"schema_version": 2}
    sender.event(
        "foreign_schema_version",
        "schema_version",
        "router",
        OBJECT_RECEIVED,
        json.dumps(foreign_body).encode(),
        foreign.message_id,
        names=("schema_version 2",),
    )
    unknown = "no_such_model"
    request = inference_request(_ref("bad/unknown-model.png"), profile="flowcam", model=unknown)
    sender.event(
        "unknown_model",
        "unroutable",
        UNROUTABLE_STAGE,
        inference_requested(unknown),
        request.model_dump_json().encode(),
        request.message_id,
        names=(inference_requested(unknown),),
    )
    up("no_route", "no_route", "router", "bad/notes.txt", b"no rule routes a text file\n")


def _ref(key: str) -> ObjectRef:
    return ObjectRef(bucket=BUCKET, key=key, etag=uuid.uuid4().hex, size=1234, content_type="image/png")


def _object_received(key: str) -> ObjectReceived:
    obj = _ref(key)
    return ObjectReceived(
        message_id=derive_id("object.received", *obj.identity),
        correlation_id=obj.upload_id(),
        tenant=TENANT,
        object=obj,
        source="minio-amqp",
    )


async def _run(stack: NativeStack) -> Outcome:
    sender = Sender(stack)
    plan(sender)
    control_keys = [f"controls/{i:02d}-{path.name}" for i, path in enumerate(_controls())]
    controls = [
        stack.upload(BUCKET, key, path.read_bytes()) for key, path in zip(control_keys, _controls(), strict=True)
    ]
    await sender.publish()
    await stack.notify(controls)

    letters: list[ObservedDeadLetter] = []
    cases = sender.cases

    async def collect() -> list[ObservedDeadLetter]:
        letters.extend(await take_dead_letters(stack.config.broker_url, stack.topology.dead_letter_queue.name))
        return letters

    def every_case_seen(found: list[ObservedDeadLetter]) -> bool:
        expected = [c for name, c in cases.items() if name not in KNOWN_BUGS]
        return all(any(c.owns(x) for x in found) for c in expected)

    token = stack.api_token(TENANT)

    def stored(results: list[dict[str, Any]]) -> Counter[str]:
        return Counter(r["object"]["key"] for r in results if r["object"]["key"] in control_keys)

    deadline = time.monotonic() + DEADLINE_SECONDS
    await eventually(
        lambda: stored_results(stack.results_url, token, bucket=BUCKET),
        until=lambda r: set(stored(r)) >= set(control_keys),
        timeout=DEADLINE_SECONDS,
    )
    await eventually(collect, until=every_case_seen, timeout=max(deadline - time.monotonic(), 1.0))
    if KNOWN_BUGS:
        # A case that is a known bug gets until the deadline to show what it ends as, if anything.
        with contextlib.suppress(AssertionError):
            await eventually(
                collect,
                until=lambda found: all(any(c.owns(x) for x in found) for c in cases.values()),
                timeout=max(deadline - time.monotonic(), 0.0),
            )
    # Every queue drained (retries included): nothing can still turn into a dead letter.
    await eventually(lambda: _backlog(stack), until=lambda n: n == 0, timeout=10)
    await collect()
    for case in cases.values():
        case.letters = [x for x in letters if case.owns(x)]
    strays = [x for x in letters if not any(c.owns(x) for c in cases.values())]
    results = await stored_results(stack.results_url, token, bucket=BUCKET)
    others = sorted(r["object"]["key"] for r in results if r["object"]["key"] not in control_keys)
    return Outcome(cases, strays, stored(results), control_keys, others)


async def _backlog(stack: NativeStack) -> int:
    """Messages waiting in any work or retry queue of the stack."""
    topology = stack.topology
    stages = ["ingest", "router", "results", "results.samples", "results.failures", UNROUTABLE_STAGE]
    stages += [f"inference.{model}" for model in stack.config.models]
    names = [n for stage in stages for n in (topology.work_queue_name(stage), topology.retry_queue(stage).name)]
    waiting = 0
    connection = await aio_pika.connect(stack.config.broker_url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared (yet): nothing waits in it
            waiting += queue.declaration_result.message_count or 0
            await channel.close()
    return waiting


@pytest.fixture(scope="module")
def outcome(stack: NativeStack) -> Outcome:
    return asyncio.run(_run(stack))


CASE_NAMES = [
    "truncated_png",
    "truncated_jpeg",
    "corrupt_image_bytes",
    "text_named_png",
    "decompression_bomb",
    "zip_bomb",
    "zip_slip",
    "nested_too_deep",
    "symlink_in_archive",
    "corrupt_archive",
    "empty_object",
    "oversize_object",
    "deleted_before_processing",
    "notification_not_json",
    "notification_foreign_shape",
    "notification_invalid_utf8",
    "key_invalid_utf8",
    "key_path_traversal",
    "key_control_characters",
    "foreign_schema_version",
    "unknown_model",
    "no_route",
]


def _param(name: str) -> Any:
    if name in KNOWN_BUGS:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
    return name


def _readable(reason: str) -> bool:
    return bool(reason.strip()) and "Traceback" not in reason and reason.isprintable()


@pytest.mark.parametrize("name", [_param(n) for n in CASE_NAMES])
def test_a_bad_input_ends_as_one_dead_letter_with_its_code(outcome: Outcome, name: str) -> None:
    case = outcome.cases[name]
    seen = [(x.stage, x.code, x.reason) for x in case.letters]
    assert case.letters, f"{name}: no dead letter"
    # Dead letters are at least once: a redelivery may add a copy, never another verdict.
    assert {(x.stage, x.code) for x in case.letters} == {(case.stage, case.code)}, seen
    for letter in case.letters:
        assert _readable(letter.reason), seen
        for word in case.reason_names:
            assert word in letter.reason, seen


def test_nothing_else_is_dead_lettered_and_every_control_is_stored_once(outcome: Outcome) -> None:
    stray = [(x.stage, x.code, x.bucket, x.key, x.reason) for x in outcome.strays]
    assert stray == [], "only the planted bad inputs may be dead-lettered"
    assert outcome.controls == Counter({key: 1 for key in outcome.control_keys})
    assert outcome.others == [], "a bad input, or a member of a refused archive, has a stored result"
    assert sorted(outcome.cases) == sorted(CASE_NAMES)
