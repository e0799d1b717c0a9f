"""Service logs are JSON lines, including library records, and secrets never reach them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from aquaflow_shared.logging import configure_logging
from aquaflow_shared.settings import BrokerSettings, S3Settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_service_and_library_records_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    log = configure_logging("router", "INFO")
    log.info("message settled", message_id="m1", correlation_id="c1", outcome="ok")
    logging.getLogger("aio_pika.robust_connection").warning("connection lost, reconnecting")
    structlog.get_logger().debug("filtered out below INFO")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [(r["event"], r["level"]) for r in lines] == [
        ("message settled", "info"),
        ("connection lost, reconnecting", "warning"),
    ]
    assert lines[0]["service"] == "router"
    assert lines[0]["message_id"] == "m1"
    assert lines[1]["logger"] == "aio_pika.robust_connection"


def test_secrets_do_not_show_in_settings_reprs_or_dumps() -> None:
    broker = BrokerSettings(url="amqp://aquaflow:hunter2@rabbit:5672/")
    s3 = S3Settings(secret_access_key="s3-very-secret")  # noqa: S106 - a planted secret
    for text in (repr(broker), str(broker), broker.model_dump_json(), repr(s3), s3.model_dump_json()):
        assert "hunter2" not in text
        assert "s3-very-secret" not in text
    assert broker.url.get_secret_value().endswith("@rabbit:5672/")
