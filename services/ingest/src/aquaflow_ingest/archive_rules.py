"""What an uploaded archive may contain, and where its members go: pure rules, no I/O.

Bounds apply to the whole tree of one upload (members of nested archives count
towards the same totals), so an archive cannot escape them by nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote

from aquaflow_ingest.errors import (
    ArchiveNested,
    ArchiveRatio,
    ArchiveTooLarge,
    ArchiveTooManyMembers,
    ArchiveUnsafePath,
)
from aquaflow_shared.contracts import ArchiveOrigin, ObjectRef


class ArchiveFormat(StrEnum):
    ZIP = "zip"
    TAR = "tar"  # plain or compressed (gzip, bzip2, xz): tarfile detects which


# Longest suffix first, so "x.tar.gz" is a tar, not a gzip of something.
_SUFFIXES: tuple[tuple[str, ArchiveFormat], ...] = (
    (".tar.gz", ArchiveFormat.TAR),
    (".tar.bz2", ArchiveFormat.TAR),
    (".tar.xz", ArchiveFormat.TAR),
    (".tgz", ArchiveFormat.TAR),
    (".tar", ArchiveFormat.TAR),
    (".zip", ArchiveFormat.ZIP),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Written on every member object, so an echoed notification or a sweep that finds
# the member knows where it came from (ObjectRef.archive).
METADATA_ARCHIVE_BUCKET = "aquaflow-archive-bucket"
METADATA_ARCHIVE_KEY = "aquaflow-archive-key"
METADATA_ARCHIVE_ETAG = "aquaflow-archive-etag"
METADATA_ARCHIVE_VERSION = "aquaflow-archive-version"
METADATA_ARCHIVE_MEMBER = "aquaflow-archive-member"


def archive_format(key: str) -> ArchiveFormat | None:
    """The format an object key names by its suffix, or None for anything else."""
    lowered = key.lower()
    for suffix, fmt in _SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return fmt
    return None


def without_archive_suffix(path: str) -> str:
    lowered = path.lower()
    for suffix, _ in _SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return path[: -len(suffix)]
    return path


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_total_bytes: int
    max_ratio: float
    max_depth: int
    max_member_bytes: int
    # Below this many uncompressed bytes the ratio is not checked: small text files compress very well.
    ratio_floor_bytes: int = 1024 * 1024


def member_path(name: str) -> str:
    """A member's name as a safe relative path with ``/`` separators, or the reason it is not one.

    Both separators count: archives made on Windows use backslashes, and a ``..``
    behind either one is a zip-slip attempt.
    """
    if _CONTROL.search(name):
        raise ArchiveUnsafePath(f"archive member {name!r} has control characters in its name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise ArchiveUnsafePath(f"archive member {name!r} has an absolute path")
    segments = [s for s in re.split(r"[/\\]", name) if s not in ("", ".")]
    if ".." in segments:
        raise ArchiveUnsafePath(f"archive member {name!r} has a '..' path segment")
    if not segments:
        raise ArchiveUnsafePath(f"archive member {name!r} has an empty path")
    return "/".join(segments)


def member_key(archive_key: str, path: str, *, prefix: str = "") -> str:
    """Where a member is written: ``[prefix/]<archive key without extension>/<member path>``.

    ``path`` is the member's path, joined with ``/`` through nested archives, each
    nested archive's own extension removed, so every member of one archive version
    always lands on the same key.
    """
    parts = path.split("/")
    folders = [without_archive_suffix(p) for p in parts[:-1]]
    base = without_archive_suffix(archive_key)
    key = "/".join([base, *folders, parts[-1]])
    return f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key


def archive_metadata(archive: ObjectRef, path: str) -> dict[str, str]:
    """The provenance stored on a member object; percent-encoded, as S3 metadata is ASCII only."""
    fields = {
        METADATA_ARCHIVE_BUCKET: archive.bucket,
        METADATA_ARCHIVE_KEY: archive.key,
        METADATA_ARCHIVE_ETAG: archive.etag,
        METADATA_ARCHIVE_MEMBER: path,
    }
    if archive.version_id:
        fields[METADATA_ARCHIVE_VERSION] = archive.version_id
    return {name: quote(value, safe="/") for name, value in fields.items()}


def origin_from_metadata(metadata: dict[str, str]) -> ArchiveOrigin | None:
    """The archive an object was expanded from, as its metadata says; None if it says nothing usable.

    Provenance only: it never decides the tenant or the identity of the object.
    """
    try:
        return ArchiveOrigin(
            bucket=unquote(metadata[METADATA_ARCHIVE_BUCKET]),
            key=unquote(metadata[METADATA_ARCHIVE_KEY]),
            etag=unquote(metadata[METADATA_ARCHIVE_ETAG]),
            version_id=unquote(metadata[METADATA_ARCHIVE_VERSION]) if METADATA_ARCHIVE_VERSION in metadata else None,
            member=unquote(metadata[METADATA_ARCHIVE_MEMBER]),
        )
    except (KeyError, ValueError):
        return None


class Budget:
    """What one upload's expansion has used so far, across nested archives."""

    def __init__(self, limits: ArchiveLimits, archive_bytes: int) -> None:
        self.limits = limits
        self.archive_bytes = archive_bytes
        self.members = 0
        self.total_bytes = 0

    def enter(self, depth: int, path: str) -> None:
        """An archive at ``depth`` (the upload is 1) is about to be opened."""
        if depth > self.limits.max_depth:
            raise ArchiveNested(
                f"archive member {path!r} is an archive nested {depth} deep, over the limit of {self.limits.max_depth}"
            )

    def count(self, path: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveTooManyMembers(f"archive has more than {self.limits.max_members} members (at {path!r})")

    def declare(self, path: str, size: int, compressed: int | None) -> None:
        """A member's announced size; checked before a byte of it is read (the ratio first: it names a bomb)."""
        if (
            compressed is not None
            and size > self.limits.ratio_floor_bytes
            and size > compressed * self.limits.max_ratio
        ):
            raise ArchiveRatio(
                f"archive member {path!r} expands {size / max(compressed, 1):.0f}-fold, over the limit of "
                f"{self.limits.max_ratio:g}"
            )
        if size > self.limits.max_member_bytes:
            raise ArchiveTooLarge(
                f"archive member {path!r} is {size} bytes, over the per-object limit of "
                f"{self.limits.max_member_bytes} bytes"
            )

    def consume(self, path: str, size: int) -> None:
        """``size`` more uncompressed bytes were read (or are about to be)."""
        self.total_bytes += size
        if self.total_bytes > self.limits.max_total_bytes:
            raise ArchiveTooLarge(f"archive expands to more than {self.limits.max_total_bytes} bytes (at {path!r})")
        if (
            self.total_bytes > self.limits.ratio_floor_bytes
            and self.total_bytes > self.archive_bytes * self.limits.max_ratio
        ):
            raise ArchiveRatio(
                f"archive of {self.archive_bytes} bytes expands to more than {self.total_bytes} bytes, "
                f"over the ratio limit of {self.limits.max_ratio:g} (at {path!r})"
            )
