"""The images every setting of the benchmark sees: EcoTaxa's real QA images, then variants of them.

The real images (``data/ecotaxa-qa``, the corrupted ones left out: they are dead letters,
not work) come first, byte for byte. Beyond them, each further image is a real one turned
or mirrored (the seven other orientations), then trimmed by a pixel more per side on each
round, and written as PNG: different bytes and pixels, the same kind of content, and the
same images on every run.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from aquaflow_devstack.samples import Sample, real_images

ORIENTATIONS = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)
# Uploads per sample (one FlowCam run): results keeps each sample's aggregates up to date.
SAMPLE_SIZE = 100
MIN_SIDE = 8  # a variant is never trimmed below this


@dataclass(frozen=True)
class BenchImage:
    name: str  # file name: the source's stem, and the variant number for generated ones
    body: bytes
    generated: bool

    def key(self, index: int, sample_size: int = SAMPLE_SIZE) -> str:
        """The object key of the ``index``-th upload: ``run-<n>/<index>-<name>``, one sample per ``sample_size``."""
        return f"run-{index // sample_size:03d}/{index:05d}-{self.name}"


def usable_sources(root: Path | None = None) -> list[Sample]:
    """The real images that decode (EcoTaxa's QA data marks its corrupted ones)."""
    found = []
    for sample in real_images(root):
        if sample.corrupt:
            continue
        try:
            with Image.open(sample.path) as image:
                image.load()
        except (OSError, SyntaxError, ValueError):
            continue
        found.append(sample)
    return found


def variant(body: bytes, number: int) -> bytes:
    """The ``number``-th variant (1, 2, ...) of an image: another orientation, trimmed on later rounds."""
    if number < 1:
        raise ValueError("variant numbers start at 1")
    orientation = ORIENTATIONS[(number - 1) % len(ORIENTATIONS)]
    trim = (number - 1) // len(ORIENTATIONS)
    with Image.open(io.BytesIO(body)) as image:
        image.seek(0)
        turned = image.transpose(orientation)
    width, height = turned.size
    trim = min(trim, max(0, (min(width, height) - MIN_SIDE) // 2))
    if trim:
        turned = turned.crop((trim, trim, width - trim, height - trim))
    out = io.BytesIO()
    turned.save(out, format="PNG")
    return out.getvalue()


def bench_images(count: int, sources: list[Sample] | None = None) -> list[BenchImage]:
    """``count`` images: every usable real image once, then variants in turn until there are enough."""
    sources = sources if sources is not None else usable_sources()
    if not sources:
        raise FileNotFoundError("no usable real images to benchmark with (data/ecotaxa-qa)")
    bodies = [s.path.read_bytes() for s in sources]
    images: list[BenchImage] = []
    for index in range(count):
        round_, which = divmod(index, len(sources))
        source = sources[which]
        if round_ == 0:
            images.append(BenchImage(source.path.name, bodies[which], generated=False))
        else:
            name = f"{source.path.stem}-v{round_}.png"
            images.append(BenchImage(name, variant(bodies[which], round_), generated=True))
    return images
