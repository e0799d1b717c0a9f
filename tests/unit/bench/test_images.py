"""The benchmark's images: the real ones first, then variants that differ in bytes and pixels."""

from __future__ import annotations

import io

from PIL import Image

from aquaflow_devstack.bench.images import BenchImage, bench_images, usable_sources, variant


def test_the_real_images_come_first_byte_for_byte_then_variants() -> None:
    sources = usable_sources()
    assert sources, "data/ecotaxa-qa holds real images"
    assert not any(s.corrupt for s in sources)
    images = bench_images(len(sources) + 3, sources)
    assert len(images) == len(sources) + 3
    assert [i.body for i in images[: len(sources)]] == [s.path.read_bytes() for s in sources]
    assert not any(i.generated for i in images[: len(sources)])
    extra = images[len(sources) :]
    assert all(i.generated and i.name.endswith("-v1.png") for i in extra)
    # EcoTaxa's QA data holds some files several times over; a variant never repeats a real file.
    assert not {i.body for i in extra} & {i.body for i in images[: len(sources)]}
    assert len({i.key(n) for n, i in enumerate(images)}) == len(images)


def test_variants_turn_then_trim_and_always_decode() -> None:
    original = Image.new("L", (30, 20), 200)
    original.putpixel((0, 0), 0)
    buffer = io.BytesIO()
    original.save(buffer, format="PNG")
    first = Image.open(io.BytesIO(variant(buffer.getvalue(), 1)))  # mirrored
    assert first.size == (30, 20)
    assert first.getpixel((29, 0)) == 0
    eighth = Image.open(io.BytesIO(variant(buffer.getvalue(), 8)))  # mirrored again, one pixel trimmed per side
    assert eighth.size == (28, 18)
    tiny = io.BytesIO()
    Image.new("L", (9, 9)).save(tiny, format="PNG")
    assert Image.open(io.BytesIO(variant(tiny.getvalue(), 70))).size == (9, 9)  # never below 8 pixels


def test_keys_put_every_hundred_uploads_in_one_sample() -> None:
    image = BenchImage("a b.png", b"", generated=False)
    assert image.key(0) == "run-000/00000-a b.png"
    assert image.key(199) == "run-001/00199-a b.png"
