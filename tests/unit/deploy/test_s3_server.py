"""The compose S3 server (RustFS): its notifications reach ingest, its setup script makes the rules.

RustFS's notification body is built here field by field as RustFS 1.0 serialises it
(crates/targets TargetLog: PascalCase EventName, Key, Records; crates/notify Event: camelCase
records, eventSource "rustfs:s3", form-urlencoded object key), so the parser is checked against
that layout without a RustFS server, which does not run on these machines.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml

from aquaflow_ingest.errors import MalformedEvent
from aquaflow_ingest.notifications import parse_notification
from tests.unit.deploy.test_compose import ROOT, env_of

SCRIPT = ROOT / "deploy" / "s3-setup.sh"


def rustfs_body(bucket: str, key: str, *, event: str = "s3:ObjectCreated:Put", source: str = "rustfs:s3") -> bytes:
    record = {
        "eventVersion": "2.0",
        "eventSource": source,
        "awsRegion": "us-east-1",
        "eventTime": "2026-08-21T10:11:13.000Z",
        "eventName": event,
        "userIdentity": {"principalId": "aquaflow"},
        "requestParameters": {"principalId": "aquaflow", "region": "us-east-1", "sourceIPAddress": "10.0.0.7"},
        "responseElements": {"x-amz-request-id": "18A2B3C4D5E6F708", "x-amz-id-2": "dd9025bab4ad464b"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "aquaflow"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": quote_plus(key),
                "size": 5120,
                "eTag": "9b2cf535f27731c974343645a3985328",
                "contentType": "image/png",
                "userMetadata": {"x-amz-meta-instrument": "zooscan", "content-type": "image/png"},
                "sequencer": "18A2B3C4D5E6F708",
            },
        },
        "source": {"host": "10.0.0.7", "port": "", "userAgent": "aws-cli/2.37.5"},
    }
    return json.dumps({"EventName": event, "Key": f"{bucket}/{key}", "Records": [record]}).encode()


def test_ingest_reads_a_rustfs_notification() -> None:
    (notified,) = parse_notification(rustfs_body("plankton-zooscan", "scan 7/ROI+1.png")).records
    assert notified.origin == "minio", "RustFS's body carries the user metadata, as MinIO's does"
    assert (notified.bucket, notified.key) == ("plankton-zooscan", "scan 7/ROI+1.png")
    assert notified.is_creation
    assert notified.etag == "9b2cf535f27731c974343645a3985328"
    assert notified.metadata == {"instrument": "zooscan"}
    assert notified.content_type == "image/png"
    assert notified.version_id is None


def test_ingest_still_refuses_an_unknown_event_source() -> None:
    with pytest.raises(MalformedEvent):
        parse_notification(rustfs_body("plankton-zooscan", "a.png", source="azure:blob"))


@pytest.fixture
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def fake_aws(folder: Path, existing: set[str]) -> Path:
    """An `aws` on PATH that records each call and knows which buckets exist.

    The AWS CLI v2 is not installable from PyPI (v1's botocore pin clashes with aiobotocore's),
    so the script's logic is checked against this recorder: what it asks the S3 server for.
    Each call is its arguments separated by US (0x1f) and ended by RS (0x1e).
    """
    log = folder / "calls.log"
    stub = folder / "aws"
    stub.write_text(
        "#!/bin/sh\n"
        f"for arg in \"$@\"; do printf '%s\\037' \"$arg\" >> '{log}'; done\n"
        f"printf '\\036' >> '{log}'\n"
        'bucket=""; previous=""\n'
        'for arg in "$@"; do [ "$previous" = "--bucket" ] && bucket="$arg"; previous="$arg"; done\n'
        'case "$*" in *head-bucket*) case " '
        + " ".join(sorted(existing))
        + ' " in *" $bucket "*) exit 0 ;; *) exit 254 ;; esac ;; esac\n'
    )
    stub.chmod(0o755)
    return log


def run_setup(
    tmp_path: Path, env: dict[str, str], existing: set[str]
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    log = fake_aws(tmp_path, existing)
    done = subprocess.run(
        ["sh", str(SCRIPT)],
        check=False,
        env={**env, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = log.read_text().split("\x1e")[:-1] if log.exists() else []
    return done, [record.split("\x1f")[:-1] for record in records]


def s3api_calls(calls: list[list[str]], operation: str) -> dict[str, list[str]]:
    return {call[call.index("--bucket") + 1]: call for call in calls if operation in call}


@pytest.mark.parametrize("target", ["amqp", "webhook"])
def test_setup_creates_missing_buckets_and_one_rule_per_watched_bucket(
    compose: dict[str, Any], tmp_path: Path, target: str
) -> None:
    env = {**env_of(compose, "s3-setup"), "S3_SETUP_NOTIFY_TARGET": target}
    watched = env["S3_SETUP_WATCHED_BUCKETS"].split()
    done, calls = run_setup(tmp_path, env, existing={watched[0]})
    assert done.returncode == 0, done.stderr
    assert ["configure", "set", "default.s3.addressing_style", "path"] in calls
    created = s3api_calls(calls, "create-bucket")
    assert set(created) == {*watched[1:], env["S3_SETUP_OUTPUT_BUCKET"]}, "existing buckets are left alone"
    rules = s3api_calls(calls, "put-bucket-notification-configuration")
    assert set(rules) == {*watched, env["S3_SETUP_OUTPUT_BUCKET"]}
    arn = f"arn:rustfs:sqs:{env['AWS_DEFAULT_REGION']}:{env['S3_SETUP_NOTIFY_TARGET_ID']}:{target}"
    for bucket in watched:
        call = rules[bucket]
        assert call[call.index("--endpoint-url") + 1] == env["S3_SETUP_ENDPOINT"]
        configuration = json.loads(call[call.index("--notification-configuration") + 1])
        assert configuration == {
            "QueueConfigurations": [{"Id": "aquaflow-uploads", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        }
    output = rules[env["S3_SETUP_OUTPUT_BUCKET"]]
    assert json.loads(output[output.index("--notification-configuration") + 1]) == {}


def test_setup_names_the_target_compose_enables(compose: dict[str, Any]) -> None:
    setup, s3 = env_of(compose, "s3-setup"), env_of(compose, "s3")
    suffix = setup["S3_SETUP_NOTIFY_TARGET_ID"].upper()
    # RustFS's target id is the lower-cased suffix of its settings.
    assert setup["S3_SETUP_NOTIFY_TARGET_ID"] == setup["S3_SETUP_NOTIFY_TARGET_ID"].lower()
    assert s3[f"RUSTFS_NOTIFY_AMQP_ENABLE_{suffix}"] == "on"
    assert f"RUSTFS_NOTIFY_WEBHOOK_ENDPOINT_{suffix}" in s3


def test_setup_refuses_an_unknown_target(compose: dict[str, Any], tmp_path: Path) -> None:
    env = {**env_of(compose, "s3-setup"), "S3_SETUP_NOTIFY_TARGET": "kafka"}
    done, calls = run_setup(tmp_path, env, existing=set())
    assert done.returncode == 2
    assert "amqp or webhook" in done.stderr
    assert calls == []
