"""The cuttable proxy the fault runs use: transparent while up, unreachable while cut, same port after."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from aquaflow_devstack.proxy import CuttableProxy
from aquaflow_devstack.s3 import S3Server

pytestmark = pytest.mark.integration


def test_s3_through_the_proxy_fails_while_cut_and_works_again_on_the_same_port(s3_server: S3Server) -> None:
    target = s3_server.endpoint_url.rsplit(":", 1)
    proxy = CuttableProxy("127.0.0.1", int(target[1])).start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{proxy.address}",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name=s3_server.region,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    try:
        client.create_bucket(Bucket="through-the-proxy")
        client.put_object(Bucket="through-the-proxy", Key="a", Body=b"x" * 200_000)
        proxy.cut()
        assert proxy.is_cut
        with pytest.raises(EndpointConnectionError):
            client.get_object(Bucket="through-the-proxy", Key="a")
        proxy.restore()
        assert client.get_object(Bucket="through-the-proxy", Key="a")["Body"].read() == b"x" * 200_000
    finally:
        proxy.stop()
