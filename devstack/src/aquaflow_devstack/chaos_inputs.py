"""What a fault run uploads: real images, archives of them, and planted bad inputs.

Every planted bad input names the dead-letter code it must end with, so the run can
check that exactly these, and nothing else, are dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aquaflow_devstack.hostile_inputs import pixel_bomb, zip_bomb, zip_of, zip_slip
from aquaflow_devstack.samples import Sample

FLOWCAM = "plankton-flowcam"
ZOOSCAN = "plankton-zooscan"


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    body: bytes
    # Empty: must end with one stored result; else the dead-letter codes it may end with.
    expect_codes: frozenset[str] = frozenset()
    # Names of the results an archive must expand into (keys relative to the archive).
    members: tuple[str, ...] = ()
    announce: bool = True  # False: the notification is "lost"; the reconciliation sweep must find it
    duplicate: bool = False  # announced twice, as MinIO does when it replays its queue store


@dataclass
class UploadPlan:
    uploads: list[Upload] = field(default_factory=list)

    @property
    def good(self) -> list[Upload]:
        return [u for u in self.uploads if not u.expect_codes and not u.members]

    @property
    def archives(self) -> list[Upload]:
        return [u for u in self.uploads if u.members]

    @property
    def bad(self) -> list[Upload]:
        return [u for u in self.uploads if u.expect_codes]


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def plan_uploads(samples: list[Sample], total: int, *, archives: int = 5, per_archive: int = 10) -> UploadPlan:
    """``total`` uploads: archives of real images, bad inputs, and real images for the rest."""
    good = [s for s in samples if not s.corrupt]
    corrupt = [s for s in samples if s.corrupt]
    plan = UploadPlan()
    for index, sample in enumerate(corrupt):
        key = f"bad/corrupt-{index}-{sample.path.name}"
        plan.uploads.append(Upload(FLOWCAM, key, sample.path.read_bytes(), _codes("corrupt_image", "not_an_image")))
    plan.uploads += [
        Upload(FLOWCAM, "bad/empty.png", b"", _codes("empty_object")),
        Upload(FLOWCAM, "bad/not-an-image.png", b"this is a text file, not a picture\n" * 20, _codes("not_an_image")),
        Upload(FLOWCAM, "bad/pixel-bomb.png", pixel_bomb(), _codes("decompression_bomb")),
        Upload(FLOWCAM, "bad/zip-bomb.zip", zip_bomb(600), _codes("archive_ratio", "archive_too_large")),
        Upload(FLOWCAM, "bad/zip-slip.zip", zip_slip(), _codes("archive_unsafe_path")),
    ]
    for batch in range(archives):
        chosen = [good[(batch * per_archive + i) % len(good)] for i in range(per_archive)]
        files = {f"img-{i:03d}{s.path.suffix.lower()}": s.path.read_bytes() for i, s in enumerate(chosen)}
        plan.uploads.append(Upload(FLOWCAM, f"archives/batch-{batch}.zip", zip_of(files), members=tuple(files)))
    remaining = total - len(plan.uploads)
    for index in range(remaining):
        sample = good[index % len(good)]
        bucket = ZOOSCAN if index % 10 == 0 else FLOWCAM
        # Runs of 200 uploads: the routing table's `{sample}/**` makes each run a sample.
        key = f"run-{index // 200:02d}/{index:05d}-{sample.path.name}"
        plan.uploads.append(
            Upload(bucket, key, sample.path.read_bytes(), announce=index % 97 != 5, duplicate=index % 10 == 3)
        )
    return plan
