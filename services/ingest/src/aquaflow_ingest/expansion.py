"""Expanding an uploaded archive: every regular file becomes an object of its own, announced.

The archive is streamed to a temporary file (never held in memory), read once to
check every bound (``archive_rules``) and then again to write each member to S3
and announce it, one member at a time. Nothing is written unless the whole tree
passed the checks.

Re-expanding one archive version is idempotent: member keys derive from the
archive key and member path, a member already written from this archive version
is reused instead of written again (so a versioned bucket gets no new version),
and the claim on each member's identity keeps its announcement single.
"""

from __future__ import annotations

import asyncio
import mimetypes
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from aquaflow_ingest.archive_reader import ExtractedMember, inspect, walk
from aquaflow_ingest.archive_rules import (
    METADATA_ARCHIVE_ETAG,
    METADATA_ARCHIVE_KEY,
    METADATA_ARCHIVE_MEMBER,
    ArchiveFormat,
    ArchiveLimits,
    Budget,
    archive_format,
    archive_metadata,
    member_key,
)
from aquaflow_ingest.errors import ArchiveUnsafePath, ObjectMissing, UnsafeKey
from aquaflow_ingest.object_store import ObjectStore, StoredObject
from aquaflow_ingest.validation import check_key
from aquaflow_shared.contracts import ArchiveOrigin, ObjectRef
from aquaflow_shared.errors import PermanentError

# Announces one member object; returns the outcome's name (published, duplicate).
AnnounceMember = Callable[[ObjectRef, datetime | None], Awaitable[str]]


@dataclass(frozen=True)
class ExpansionReport:
    members: int
    written: int
    outcomes: dict[str, int]


class ArchiveExpander:
    def __init__(
        self,
        *,
        store: ObjectStore,
        limits: ArchiveLimits,
        max_archive_bytes: int,
        output_prefix: str = "",
        workdir: Path | None = None,
    ) -> None:
        self._store = store
        self._limits = limits
        self._max_archive_bytes = max_archive_bytes
        self._prefix = output_prefix
        self._workdir = workdir

    async def expand(
        self, archive: ObjectRef, announce: AnnounceMember, event_time: datetime | None
    ) -> ExpansionReport:
        fmt = archive_format(archive.key)
        if fmt is None:
            raise ValueError(f"{archive.key!r} is not an archive")
        try:
            return await self._expand(archive, fmt, announce, event_time)
        except PermanentError as refused:
            # The reasons name the member; the dead letter also says which archive.
            where = f"s3://{archive.bucket}/{archive.key}"
            raise type(refused)(f"{where}: {refused.reason}", code=refused.code) from refused

    async def _expand(
        self, archive: ObjectRef, fmt: ArchiveFormat, announce: AnnounceMember, event_time: datetime | None
    ) -> ExpansionReport:
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix="aquaflow-archive-") as folder:
            work = Path(folder)
            local = work / "upload"
            size = await self._store.download(
                archive.bucket,
                archive.key,
                local,
                etag=archive.etag,
                version_id=archive.version_id,
                max_bytes=self._max_archive_bytes,
            )
            await asyncio.to_thread(inspect, local, fmt, Budget(self._limits, size), work)
            members = walk(local, fmt, Budget(self._limits, size), work, extract=True)
            outcomes: dict[str, int] = {}
            count = written = 0
            try:
                while (member := await asyncio.to_thread(next, members, None)) is not None:
                    try:
                        obj, wrote = await self._store_member(archive, member)
                    finally:
                        member.file.unlink(missing_ok=True)
                    outcome = await announce(obj, event_time)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    count += 1
                    written += wrote
            finally:
                members.close()
        return ExpansionReport(members=count, written=written, outcomes=outcomes)

    async def _store_member(self, archive: ObjectRef, member: ExtractedMember) -> tuple[ObjectRef, bool]:
        key = member_key(archive.key, member.path, prefix=self._prefix)
        try:
            check_key(key)
        except UnsafeKey as error:
            raise ArchiveUnsafePath(f"archive member {member.path!r} gives an unsafe key: {error.reason}") from error
        provenance = archive_metadata(archive, member.path)
        metadata = {name: _ascii(value) for name, value in archive.metadata.items()} | provenance
        content_type = mimetypes.guess_type(member.path)[0] or "application/octet-stream"
        stored = await self._already_written(archive.bucket, key, provenance, member.size)
        wrote = stored is None
        if stored is None:
            stored = await self._store.put_file(
                archive.bucket, key, member.file, content_type=content_type, metadata=metadata
            )
        obj = ObjectRef(
            bucket=archive.bucket,
            key=key,
            etag=stored.etag,
            version_id=stored.version_id,
            size=member.size,
            content_type=content_type,
            metadata=metadata,
            archive=ArchiveOrigin(
                bucket=archive.bucket,
                key=archive.key,
                etag=archive.etag,
                version_id=archive.version_id,
                member=member.path,
            ),
        )
        return obj, wrote

    async def _already_written(
        self, bucket: str, key: str, provenance: dict[str, str], size: int
    ) -> StoredObject | None:
        try:
            head = await self._store.head(bucket, key)
        except ObjectMissing:
            return None
        same = all(head.metadata.get(n) == provenance[n] for n in (METADATA_ARCHIVE_KEY, METADATA_ARCHIVE_ETAG))
        if (
            same
            and head.metadata.get(METADATA_ARCHIVE_MEMBER) == provenance[METADATA_ARCHIVE_MEMBER]
            and head.size == size
        ):
            return StoredObject(etag=head.etag, version_id=head.version_id)
        return None


def _ascii(value: str) -> str:
    # S3 user metadata travels in HTTP headers: ASCII only.
    return value if value.isascii() else quote(value, safe="")
