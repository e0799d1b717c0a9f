"""`make demo` on a machine that lacks a part says which, and how to get it, instead of a traceback."""

from __future__ import annotations

import pytest

from aquaflow_devstack.demo import missing_part_help
from aquaflow_devstack.mongo import MongoUnavailable
from aquaflow_devstack.rabbitmq import RabbitUnavailable
from aquaflow_devstack.s3 import S3Unavailable
from aquaflow_devstack.triton_server import TritonUnavailable


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (RabbitUnavailable("no RabbitMQ"), "apt-get install rabbitmq-server"),
        (TritonUnavailable("no tritonserver"), "nvidia-pytriton"),
        (MongoUnavailable("no server"), "MONGODB_URL"),
        (S3Unavailable("no server"), "AQUAFLOW_TEST_S3_URL"),
    ],
)
def test_each_missing_part_gets_its_reason_and_remedy(error: Exception, advice: str) -> None:
    text = missing_part_help(error)
    assert text.startswith("make demo cannot start: ")
    assert str(error) in text
    assert advice in text
