"""Reading zip and tar archives from a local file, member by member, within a ``Budget``.

Blocking code (zipfile, tarfile): callers run it in a worker thread. Nothing is
held in memory beyond one chunk: members are copied to temporary files, nested
archives too, and each is deleted once the caller has used it.
"""

from __future__ import annotations

import lzma
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aquaflow_ingest.archive_rules import ArchiveFormat, Budget, archive_format, member_path
from aquaflow_ingest.errors import ArchiveCorrupt, ArchiveLink, ArchiveTooLarge

CHUNK = 1024 * 1024

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True)
class ExtractedMember:
    """A regular file of the archive tree, copied to ``file``; ``path`` is joined through nested archives."""

    path: str
    file: Path
    size: int


def inspect(archive: Path, fmt: ArchiveFormat, budget: Budget, workdir: Path) -> None:
    """Read the whole tree once, writing nothing but nested archives: every bound is checked first."""
    for _ in walk(archive, fmt, budget, workdir, extract=False):
        pass


def walk(
    archive: Path,
    fmt: ArchiveFormat,
    budget: Budget,
    workdir: Path,
    *,
    extract: bool,
    depth: int = 1,
    parent: str = "",
) -> Generator[ExtractedMember, None, None]:
    """Every regular, non-empty file of the archive tree; with ``extract`` False, read and discarded."""
    budget.enter(depth, parent or archive.name)
    if fmt is ArchiveFormat.ZIP:
        yield from _walk_zip(archive, budget, workdir, extract=extract, depth=depth, parent=parent)
    else:
        yield from _walk_tar(archive, budget, workdir, extract=extract, depth=depth, parent=parent)


def _walk_zip(
    archive: Path, budget: Budget, workdir: Path, *, extract: bool, depth: int, parent: str
) -> Iterator[ExtractedMember]:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = _joined(parent, member_path(info.filename))
                budget.count(path)
                mode = info.external_attr >> 16
                if mode and stat.S_ISLNK(mode):
                    raise ArchiveLink(f"archive member {path!r} is a symbolic link")
                if info.is_dir():
                    continue
                # Writers that store only permission bits leave the type bits at zero: a plain file.
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise ArchiveLink(f"archive member {path!r} is not a regular file (mode {stat.filemode(mode)})")
                if info.flag_bits & 0x1:
                    raise ArchiveCorrupt(f"archive member {path!r} is encrypted")
                budget.declare(path, info.file_size, info.compress_size)
                yield from _member(
                    lambda info=info: zf.open(info),  # type: ignore[misc]
                    path,
                    info.file_size,
                    budget,
                    workdir,
                    extract=extract,
                    depth=depth,
                )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise ArchiveCorrupt(f"archive {parent or 'upload'} is not a readable zip file: {error}") from error


def _walk_tar(
    archive: Path, budget: Budget, workdir: Path, *, extract: bool, depth: int, parent: str
) -> Iterator[ExtractedMember]:
    try:
        with tarfile.open(archive, mode="r:*") as tf:
            for info in tf:
                path = _joined(parent, member_path(info.name))
                budget.count(path)
                if info.issym() or info.islnk():
                    raise ArchiveLink(f"archive member {path!r} is a {'symbolic' if info.issym() else 'hard'} link")
                if info.isdir():
                    continue
                if not info.isreg():
                    raise ArchiveLink(f"archive member {path!r} is a device, FIFO or other special file")
                budget.declare(path, info.size, None)
                yield from _member(
                    lambda info=info: _tar_member(tf, info),  # type: ignore[misc]
                    path,
                    info.size,
                    budget,
                    workdir,
                    extract=extract,
                    depth=depth,
                )
    except (tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError) as error:
        raise ArchiveCorrupt(f"archive {parent or 'upload'} is not a readable tar file: {error}") from error


def _tar_member(tf: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tf.extractfile(info)
    if stream is None:
        raise ArchiveCorrupt(f"archive member {info.name!r} has no data")
    return stream


def _member(
    opener: Opener, path: str, size: int, budget: Budget, workdir: Path, *, extract: bool, depth: int
) -> Iterator[ExtractedMember]:
    nested = archive_format(path)
    if nested is not None:
        budget.enter(depth + 1, path)
        copy = _copy(opener, path, budget, workdir)
        try:
            yield from walk(copy, nested, budget, workdir, extract=extract, depth=depth + 1, parent=path)
        finally:
            copy.unlink(missing_ok=True)
    elif size == 0:
        return  # empty files carry nothing to classify; skipped, not announced
    elif extract:
        copy = _copy(opener, path, budget, workdir)
        yield ExtractedMember(path=path, file=copy, size=copy.stat().st_size)
    else:
        _drain(opener, path, budget)


def _copy(opener: Opener, path: str, budget: Budget, workdir: Path) -> Path:
    with tempfile.NamedTemporaryFile(dir=workdir, delete=False, prefix="member-") as out:
        try:
            _pump(opener, path, budget, out)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    return Path(out.name)


def _drain(opener: Opener, path: str, budget: Budget) -> None:
    _pump(opener, path, budget, None)


def _pump(opener: Opener, path: str, budget: Budget, out: IO[bytes] | None) -> None:
    written = 0
    with opener() as stream:
        while chunk := stream.read(CHUNK):
            written += len(chunk)
            # The declared size may lie: the bytes actually read are what counts.
            if written > budget.limits.max_member_bytes:
                raise ArchiveTooLarge(
                    f"archive member {path!r} is over the per-object limit of {budget.limits.max_member_bytes} bytes"
                )
            budget.consume(path, len(chunk))
            if out is not None:
                out.write(chunk)


def _joined(parent: str, path: str) -> str:
    return f"{parent}/{path}" if parent else path
