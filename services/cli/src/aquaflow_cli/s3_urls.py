"""``s3://bucket/prefix`` as the operator writes it. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aquaflow_cli.errors import CliError, Exit

# S3's bucket naming rules, as far as a typo is concerned.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_s3_url(text: str) -> S3Location:
    if not text.startswith("s3://"):
        raise CliError(f"{text!r} is not an s3://bucket/prefix address", Exit.USAGE)
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise CliError(
            f"{bucket!r} is not a bucket name (3 to 63 lower-case letters, digits, dots, hyphens)", Exit.USAGE
        )
    return S3Location(bucket, prefix)
