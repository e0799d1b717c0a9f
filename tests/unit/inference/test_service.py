"""The use case from the request to the written outputs, with S3 replaced by dictionaries."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.imaging import decode_image
from aquaflow_inference.service import Limits, Output, infer_object
from aquaflow_shared.contracts import ObjectRef
from tests.support.messages import inference_request
from tests.unit.inference.support import repository_model

BUCKET = "aquaflow-crops"
LIMITS = Limits(max_image_pixels=60_000_000, max_regions=50)


class Uploads:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, obj: ObjectRef) -> bytes:
        return self.data


class Written:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        assert (bucket, content_type) == (BUCKET, "image/png")
        self.files[key] = data

    async def check_bucket(self, bucket: str) -> None:
        return None


def vignette() -> Image.Image:
    yy, xx = np.mgrid[:60, :80]
    pixels = np.where((yy - 30) ** 2 + (xx - 40) ** 2 <= 15**2, 60, 220).astype(np.uint8)
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def processed(data: bytes, key: str) -> tuple[bytes, Image.Image]:
    model, _ = repository_model("plankton_classifier")
    written = Written()
    obj = ObjectRef(bucket="plankton-in", key=key, etag="0123456789abcdef", size=len(data))
    request = inference_request(obj, profile="flowcam", model="plankton_classifier")
    done = await infer_object(request, Uploads(data), model, LIMITS, Output(BUCKET, written))
    assert done.crop_key is not None
    assert done.preview_key is not None
    assert set(written.files) == {done.crop_key, done.preview_key}
    crop = written.files[done.crop_key]
    with Image.open(io.BytesIO(crop)) as image:
        assert image.format == "PNG"
        image.load()
        return crop, image


async def test_a_png_upload_of_the_vignette_is_written_as_its_crop_unchanged() -> None:
    upload = encoded(vignette(), "PNG")
    crop, image = await processed(upload, "run/particle.png")
    assert crop == upload
    np.testing.assert_array_equal(np.asarray(image), np.asarray(vignette()))


@pytest.mark.parametrize(
    ("fmt", "key"),
    [("JPEG", "run/particle.jpg"), ("TIFF", "run/particle.tif")],
)
async def test_any_other_upload_has_its_decoded_pixels_encoded_as_the_crop(fmt: str, key: str) -> None:
    upload = encoded(vignette(), fmt)
    crop, image = await processed(upload, key)
    assert crop != upload
    np.testing.assert_array_equal(np.asarray(image), np.asarray(decode_image(upload, max_pixels=60_000_000)))


async def test_a_png_whose_pixels_decoding_scales_is_encoded_again() -> None:
    sixteen_bit = Image.fromarray(np.asarray(vignette()).astype(np.uint16) * 16)  # 12-bit values
    upload = encoded(sixteen_bit, "PNG")
    crop, image = await processed(upload, "run/particle.png")
    assert crop != upload
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), np.asarray(decode_image(upload, max_pixels=60_000_000)))
