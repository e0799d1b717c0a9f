"""Untrusted bytes → a fully decoded image, or a permanent error that names the problem."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.samples import real_images
from aquaflow_inference.errors import CorruptImage, ImageTooLarge, NotAnImage
from aquaflow_inference.imaging import decode_image
from aquaflow_shared.errors import PermanentError

LIMIT = 60_000_000


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return Image.fromarray(((x + y) / 2).astype(np.uint8)).convert("RGB")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` one-bit pixels."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("PNG", "L")])
def test_valid_images_decode_with_their_size(fmt: str, mode: str) -> None:
    image = decode_image(encoded(gradient().convert(mode), fmt), max_pixels=LIMIT)
    assert image.size == (64, 48)
    assert np.asarray(image).size > 0


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("L", (20, 10), grey) for grey in (30, 200)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    image = decode_image(data, max_pixels=LIMIT)
    assert image.size == (20, 10)
    assert np.asarray(image.convert("L")).mean() == pytest.approx(30, abs=1)


def test_sixteen_bit_images_are_scaled_to_eight_bits_not_clipped() -> None:
    pixels = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    image = decode_image(encoded(Image.fromarray(pixels), "PNG"), max_pixels=LIMIT)
    assert image.mode == "L"
    assert np.asarray(image).tolist() == [[0, 100, 255]]


@pytest.mark.parametrize("data", [b"", b"hello, this is a text file\n", b"%PDF-1.7\n" + bytes(200)])
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage) as refused:
        decode_image(data, max_pixels=LIMIT)
    assert refused.value.code == "not_an_image"
    assert isinstance(refused.value, PermanentError)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_fails_on_full_decode_not_later(fmt: str) -> None:
    data = encoded(gradient(256, 256), fmt)
    truncated = data[: len(data) // 2]
    # The header alone is fine: a check of the header would let this through.
    assert Image.open(io.BytesIO(truncated)).size == (256, 256)
    with pytest.raises(CorruptImage, match=f"corrupt or truncated {fmt} data"):
        decode_image(truncated, max_pixels=LIMIT)


def test_damaged_png_data_is_refused() -> None:
    data = bytearray(encoded(gradient(128, 128), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    with pytest.raises(CorruptImage):
        decode_image(bytes(data), max_pixels=LIMIT)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encoded(Image.new("L", (6000, 6000)), "PNG")  # 36 megapixels of zeros
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLarge, match=r"6000x6000 = 36000000 pixels, over the limit of 10000000"):
        decode_image(bomb, max_pixels=10_000_000)


def test_an_absurd_header_is_refused_as_a_decompression_bomb() -> None:
    # Pillow itself refuses images over twice its own pixel limit while opening them.
    data = png_claiming(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(ImageTooLarge, match="decompression bomb") as refused:
        decode_image(data, max_pixels=LIMIT)
    assert refused.value.code == "decompression_bomb"


def test_a_header_over_our_limit_is_refused_without_reading_the_pixels() -> None:
    with pytest.raises(ImageTooLarge, match="9000x9000"):
        decode_image(png_claiming(9000, 9000), max_pixels=LIMIT)


def test_the_corrupt_images_of_ecotaxa_qa_are_refused_and_the_others_decode() -> None:
    samples = real_images()
    for sample in samples:
        data = sample.path.read_bytes()
        if sample.corrupt:
            with pytest.raises((CorruptImage, NotAnImage)):
                decode_image(data, max_pixels=LIMIT)
        else:
            assert decode_image(data, max_pixels=LIMIT).size[0] > 0, sample.key
    assert sum(s.corrupt for s in samples) == 4
