"""Archives and images built to be refused: what the fault run and the tests plant.

Each is small to build and to send, and describes something much larger or more
dangerous: a zip that inflates a thousand-fold, a member escaping its folder, a link,
archives nested too deep, a PNG declaring 900 megapixels.
"""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import zipfile
import zlib

MIB = 1024 * 1024


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def tar_gz_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def zip_bomb(uncompressed_mib: int = 16) -> bytes:
    """A zip whose one member inflates about a thousand-fold to ``uncompressed_mib`` MiB of zeros.

    Written a mebibyte at a time, so even a large bomb never sits in memory uncompressed.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("zeros.png", "w", force_zip64=True) as member:
            block = bytes(MIB)
            for _ in range(uncompressed_mib):
                member.write(block)
    return buffer.getvalue()


def zip_slip(member: str = "../../outside.png") -> bytes:
    """A member whose path climbs out of the folder it is expanded into."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, b"\x89PNG\r\n\x1a\n")
    return buffer.getvalue()


def zip_with_symlink(member: str = "passwd.png", target: str = "/etc/passwd") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(member)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def nested_zip(depth: int, inner: bytes) -> bytes:
    """``inner`` as ``a.png`` wrapped in ``depth`` zip archives, each inside the next."""
    body = zip_of({"a.png": inner})
    for level in range(1, depth):
        body = zip_of({f"level-{level}.zip": body})
    return body


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb(side: int = 30_000) -> bytes:
    """A valid PNG of a few kilobytes whose header declares ``side`` x ``side`` one-bit pixels.

    Built by hand, row by row: drawing it with an imaging library would hold the whole
    bitmap in memory first.
    """
    row = b"\x00" + bytes((side + 7) // 8)  # filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def corrupted(body: bytes) -> bytes:
    """The same length, its middle third inverted: the signature and header still say image."""
    third = len(body) // 3
    middle = bytes(b ^ 0xFF for b in body[third : 2 * third])
    return body[:third] + middle + body[2 * third :]
