"""Untrusted bytes → a fully decoded image, or a permanent error that names the problem."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile

from aquaflow_devstack.samples import Sample, real_images
from aquaflow_inference.errors import CorruptImage, ImageTooLarge, NotAnImage
from aquaflow_inference.imaging import decode_image, decode_upload
from aquaflow_shared.errors import PermanentError

LIMIT = 60_000_000
SAMPLES = real_images()
SOUND = [s for s in SAMPLES if not s.corrupt]
CORRUPT = [s for s in SAMPLES if s.corrupt]


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


def png_header(width: int, height: int) -> bytes:
    """Signature and IHDR of a one-bit greyscale PNG."""
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels but holds almost no pixel data."""
    return png_header(width, height) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")


def png_of_zeros(width: int, height: int) -> bytes:
    """A complete, valid one-bit PNG of ``width`` x ``height`` black pixels: a bomb of a few kilobytes.

    Compressed row by row so that building a 400-megapixel bomb needs no 400 MB in memory.
    """
    row = bytes(1 + (width + 7) // 8)  # filter byte "none", then the packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_header(width, height) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def sample_id(sample: Sample) -> str:
    return sample.key


def test_the_real_images_cover_the_formats_and_modes_instruments_produce() -> None:
    kinds = set()
    for sample in SOUND:
        with Image.open(sample.path) as image:
            kinds.add((image.format, image.mode))
    assert {("PNG", "P"), ("PNG", "L"), ("PNG", "RGB"), ("JPEG", "RGB"), ("JPEG", "L"), ("GIF", "P")} <= kinds
    assert len(CORRUPT) == 4


@pytest.mark.parametrize("sample", SOUND, ids=sample_id)
def test_every_sound_real_image_decodes_completely(sample: Sample) -> None:
    data = sample.path.read_bytes()
    with Image.open(io.BytesIO(data)) as header:
        claimed = header.size
    image = decode_image(data, max_pixels=LIMIT)
    assert image.size == claimed
    pixels = np.asarray(image)  # the pixels are really there, not a lazy promise
    assert pixels.shape[:2] == (claimed[1], claimed[0])
    assert pixels.dtype == np.uint8
    assert pixels.max() > pixels.min()  # a plankton vignette is never one flat colour


@pytest.mark.parametrize("sample", CORRUPT, ids=sample_id)
def test_the_corrupt_real_images_are_refused_with_a_readable_reason(sample: Sample) -> None:
    with pytest.raises((CorruptImage, NotAnImage)) as refused:
        decode_image(sample.path.read_bytes(), max_pixels=LIMIT)
    reason = str(refused.value)
    assert reason.startswith(("corrupt or truncated PNG data", "corrupt or truncated JPEG data", "not an image"))
    assert "\n" not in reason
    error = refused.value
    assert isinstance(error, PermanentError)  # dead-lettered at once, with this reason and code
    assert (error.reason, error.code) in ((reason, "corrupt_image"), (reason, "not_an_image"))


def test_a_real_png_cut_in_half_is_corrupt() -> None:
    sample = next(s for s in SOUND if s.path.suffix == ".png" and s.path.stat().st_size > 4000)
    data = sample.path.read_bytes()
    half = data[: len(data) // 2]
    # The header survives: a check of the header alone would let this through.
    with Image.open(io.BytesIO(half)) as header:
        assert header.size == decode_image(data, max_pixels=LIMIT).size
    with pytest.raises(CorruptImage, match="corrupt or truncated PNG data"):
        decode_image(half, max_pixels=LIMIT)


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


@pytest.mark.parametrize("bits", [10, 12, 14, 16])
def test_sixteen_bit_images_are_scaled_by_the_range_of_their_sensor(bits: int) -> None:
    """12-bit camera data divided by 257 came out as grey levels 0-15."""
    full = (1 << bits) - 1
    pixels = np.array([[0, (full + 1) // 4, (full + 1) // 2, full]], dtype=np.uint16)
    image = decode_image(encoded(Image.fromarray(pixels), "PNG"), max_pixels=LIMIT)
    assert image.mode == "L"
    assert np.asarray(image).tolist() == [[0, 64, 128, 255]]


def test_a_faint_sixteen_bit_frame_keeps_its_faint_contrast() -> None:
    """Stretching min→0 and max→255 would turn ten levels of sensor noise into full contrast."""
    pixels = np.array([[4000, 4010], [4005, 4010]], dtype=np.uint16)
    image = decode_image(encoded(Image.fromarray(pixels), "PNG"), max_pixels=LIMIT)
    assert np.asarray(image).tolist() == [[249, 250], [249, 250]]


@pytest.mark.parametrize(
    "data", [b"", b"hello, this is a text file\n", b"%PDF-1.7\n" + bytes(200)], ids=["empty", "text", "pdf"]
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage, match=r"empty|not an image") as refused:
        decode_image(data, max_pixels=LIMIT)
    assert refused.value.code == "not_an_image"
    assert isinstance(refused.value, PermanentError)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_fails_on_full_decode_not_later(fmt: str) -> None:
    data = encoded(gradient(256, 256), fmt)
    truncated = data[: len(data) // 2]
    assert Image.open(io.BytesIO(truncated)).size == (256, 256)
    with pytest.raises(CorruptImage, match=f"corrupt or truncated {fmt} data"):
        decode_image(truncated, max_pixels=LIMIT)


def test_damaged_png_data_is_refused() -> None:
    data = bytearray(encoded(gradient(128, 128), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    with pytest.raises(CorruptImage):
        decode_image(bytes(data), max_pixels=LIMIT)


@pytest.fixture
def pixel_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Records every full decode (``ImageFile.load``): a refused bomb must not reach one."""
    loads: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loads


def test_the_bomb_builder_makes_images_that_really_decode(pixel_loads: list[tuple[int, int]]) -> None:
    image = decode_image(png_of_zeros(300, 200), max_pixels=LIMIT)
    # The spy sees the full decode that a bomb must not reach (reading EXIF may call load again: a no-op).
    assert set(pixel_loads) == {(300, 200)}
    assert image.size == (300, 200)
    assert image.getextrema() == (0, 0)


def test_a_decompression_bomb_is_refused_by_our_limit_before_decoding(pixel_loads: list[tuple[int, int]]) -> None:
    bomb = png_of_zeros(8000, 8000)  # under Pillow's own guard: only our limit stands in the way
    assert len(bomb) < 20_000
    with pytest.raises(ImageTooLarge, match=r"8000x8000 = 64000000 pixels, over the limit of 10000000") as refused:
        decode_image(bomb, max_pixels=10_000_000)
    assert refused.value.code == "decompression_bomb"
    assert pixel_loads == []


def test_a_20000_pixel_square_bomb_is_refused_even_with_pillows_guard_off(
    pixel_loads: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = png_of_zeros(20_000, 20_000)
    assert len(bomb) < 100_000  # 400 megapixels in under 100 kB
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        decode_image(bomb, max_pixels=LIMIT)  # Pillow's own limit trips first
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageTooLarge, match=r"20000x20000 = 400000000 pixels, over the limit of 60000000"):
        decode_image(bomb, max_pixels=LIMIT)
    assert pixel_loads == []


def test_an_absurd_header_is_refused_as_a_decompression_bomb() -> None:
    data = png_claiming(100_000, 100_000)
    assert len(data) < 200
    with pytest.raises(ImageTooLarge, match="decompression bomb") as refused:
        decode_image(data, max_pixels=LIMIT)
    assert refused.value.code == "decompression_bomb"


def test_a_header_over_our_limit_is_refused_without_reading_the_pixels() -> None:
    # The same bytes under a higher limit fail as truncated: the limit, not the data, refused them.
    with pytest.raises(ImageTooLarge, match="9000x9000"):
        decode_image(png_claiming(9000, 9000), max_pixels=LIMIT)
    with pytest.raises(CorruptImage):
        decode_image(png_claiming(9000, 9000), max_pixels=100_000_000)


def jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return encoded(image, "JPEG", exif=exif.tobytes(), quality=95)


def test_a_photo_is_turned_as_its_exif_orientation_says() -> None:
    # Stored 200 wide and 100 high, dark on the left; orientation 6: turn 90° clockwise to display.
    stored = Image.new("L", (200, 100), 240)
    stored.paste(0, (0, 0, 40, 100))
    image = decode_image(jpeg_with_orientation(stored, 6), max_pixels=LIMIT)
    assert image.size == (100, 200)
    assert image.getpixel((50, 10)) < 30  # the stored left edge is now at the top
    assert image.getpixel((50, 190)) > 200


def test_an_upright_photo_is_left_as_it_is() -> None:
    image = decode_image(jpeg_with_orientation(gradient(64, 48), 1), max_pixels=LIMIT)
    assert image.size == (64, 48)


def test_a_damaged_exif_block_leaves_the_pixels_as_stored() -> None:
    data = encoded(gradient(64, 48), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    image = decode_image(data, max_pixels=LIMIT)
    assert image.size == (64, 48)


def exif_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return exif.tobytes()


def animated_png(frames: list[Image.Image]) -> bytes:
    return encoded(frames[0], "PNG", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize(
    "data",
    [
        encoded(gradient().convert("L"), "PNG"),
        encoded(gradient(), "PNG"),
        encoded(gradient().convert("RGBA"), "PNG"),
        encoded(gradient().convert("P"), "PNG"),
        encoded(gradient().convert("1"), "PNG"),
        encoded(gradient().convert("L"), "PNG", exif=exif_orientation(1)),
    ],
    ids=["grey", "rgb", "rgba", "palette", "bilevel", "exif-upright"],
)
def test_a_png_of_the_decoded_pixels_is_kept_as_uploaded(data: bytes) -> None:
    decoded = decode_upload(data, max_pixels=LIMIT)
    assert decoded.png is data
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == decoded.image.mode
        np.testing.assert_array_equal(np.asarray(stored), np.asarray(decoded.image))


@pytest.mark.parametrize(
    "data",
    [
        encoded(gradient(), "JPEG"),
        encoded(gradient(), "GIF"),
        # 16-bit grey: scaled to 8 bits by the sensor's range.
        encoded(Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 13).astype(np.uint16)), "PNG"),
        # 16 bits per sample of RGB: Pillow reads 8 of them.
        png_header(8, 8)[:8]  # the signature
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(range(48)) for _ in range(8))))
        + png_chunk(b"IEND", b""),
        # 4 bits per palette index: read as 8.
        encoded(gradient().convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", bits=4),
        # Displayed turned: the decoded pixels are not the stored ones.
        encoded(gradient().convert("L"), "PNG", exif=exif_orientation(6)),
        # Animated: a viewer shows more than the first frame.
        animated_png([gradient().convert("L"), gradient().convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]),
    ],
    ids=["jpeg", "gif", "16-bit-grey", "16-bit-rgb", "4-bit-palette", "exif-turned", "animated"],
)
def test_an_upload_whose_pixels_changed_or_that_is_no_png_is_not_kept(data: bytes) -> None:
    decoded = decode_upload(data, max_pixels=LIMIT)
    assert decoded.png is None
    assert decoded.image.size in {(64, 48), (48, 64), (8, 8)}
