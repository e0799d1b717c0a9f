"""Bad inputs for the end-to-end catalogue: how each is built, and reading dead letters back.

Every case names the dead-letter code and stage it must end with. A case is sent either
as an upload announced in MinIO's format, as a raw notification body, or as a raw event
on the events exchange; its dead letters are recognised by the ``message_id`` it was
published with or by the object it is about.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import aio_pika

from aquaflow_devstack.minio_events import minio_event, minio_record
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER


@dataclass(frozen=True)
class Letter:
    """One message read from the dead-letter queue."""

    message_id: str | None
    routing_key: str
    stage: str
    code: str
    reason: str
    bucket: str
    key: str
    body: bytes


@dataclass
class Case:
    """One bad input: what it must end as, and how to recognise its dead letters."""

    name: str
    code: str
    stage: str
    bucket: str = ""
    key: str = ""
    message_id: str = ""
    # Words the reason must contain (the object's key where the stage can name it).
    reason_names: tuple[str, ...] = ()
    letters: list[Letter] = field(default_factory=list)

    def owns(self, letter: Letter) -> bool:
        if self.message_id and letter.message_id == self.message_id:
            return True
        return bool(self.key) and (letter.bucket, letter.key) == (self.bucket, self.key)


def object_of(body: bytes) -> tuple[str, str]:
    """The (bucket, key) a dead-lettered body is about, or empty strings."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        return ("", "")
    if not isinstance(raw, dict):
        return ("", "")
    if isinstance(raw.get("object"), dict):
        return (str(raw["object"].get("bucket")), str(raw["object"].get("key")))
    records = raw.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        s3 = records[0].get("s3") or {}
        bucket = str((s3.get("bucket") or {}).get("name"))
        return (bucket, unquote_plus(str((s3.get("object") or {}).get("key"))))
    return ("", "")


async def take_letters(broker_url: str, queue_name: str) -> list[Letter]:
    """Consume (and acknowledge) what the dead-letter queue holds now."""
    found: list[Letter] = []
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=False)
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            headers = message.headers or {}
            bucket, key = object_of(message.body)
            found.append(
                Letter(
                    message_id=message.message_id,
                    routing_key=message.routing_key or "",
                    stage=str(headers.get(STAGE_HEADER, "")),
                    code=str(headers.get(CODE_HEADER, "x-death" if "x-death" in headers else "")),
                    reason=str(headers.get(REASON_HEADER, "")),
                    bucket=bucket,
                    key=key,
                    body=message.body,
                )
            )
            await message.ack()
    return found


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def zip_bomb(uncompressed_mib: int = 16) -> bytes:
    """A few kilobytes that declare ``uncompressed_mib`` MiB of zeros (a thousand-fold expansion)."""
    return zip_of({"zeros.png": bytes(uncompressed_mib * 1024 * 1024)})


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("passwd.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def nested_zip(depth: int, inner: bytes) -> bytes:
    """``inner`` as ``a.png`` wrapped in ``depth`` zip archives, each inside the next."""
    body = zip_of({"a.png": inner})
    for level in range(1, depth):
        body = zip_of({f"level-{level}.zip": body})
    return body


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb(side: int = 30_000) -> bytes:
    """A valid PNG of a few kilobytes whose header declares ``side`` x ``side`` one-bit pixels."""
    row = b"\x00" + bytes((side + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def corrupted(body: bytes) -> bytes:
    """The same length, its middle third inverted: the signature and header still say image."""
    third = len(body) // 3
    middle = bytes(b ^ 0xFF for b in body[third : 2 * third])
    return body[:third] + middle + body[2 * third :]


def notification_with_key(bucket: str, escaped_key: str) -> bytes:
    """A MinIO notification whose record carries ``escaped_key`` exactly as given."""
    record = minio_record(bucket=bucket, key="placeholder.png", etag="0123456789abcdef", size=3)
    record["s3"]["object"]["key"] = escaped_key
    event = minio_event(record)
    event["Key"] = f"{bucket}/{unquote_plus(escaped_key, errors='replace')}"
    return json.dumps(event).encode()


def foreign_notification(bucket: str) -> bytes:
    """Well-formed JSON, but a notification of some other system (an Azure blob event)."""
    event = minio_event(minio_record(bucket=bucket, key="foreign.png", etag="0123456789abcdef", size=3))
    event["Records"][0]["eventSource"] = "azure:blob"
    return json.dumps(event).encode()
