"""The whole aquaflow stack, natively: what `make demo` and the end-to-end tests run.

RabbitMQ is the machine's own; S3 is moto's server; Triton is the binary from the
nvidia-pytriton wheel (or one already running); MongoDB is the one ``start_mongo``
finds or starts (SecantusDB here); the four services run as their own processes,
exactly as their console scripts start them, configured only through the
environment. MinIO's role of announcing uploads is played by publishing
MinIO-format notifications into the notifications exchange.

Each tenant gets a results API token of its own (``api_token``); with
``ecotaxa=True`` the EcoTaxa stand-in runs too, with one importing user and one
project per tenant (``ecotaxa_project``), and the results service pushes complete
samples into it.

For fault runs, S3 and Triton can sit behind cuttable proxies, and every part can
be killed and restarted while the rest keeps running.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika

from aquaflow_devstack.ecotaxa import EcoTaxaServer, start_ecotaxa
from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_devstack.mongo import MongoServer, start_mongo, start_secantus
from aquaflow_devstack.ports import free_port
from aquaflow_devstack.processes import ServiceProcess
from aquaflow_devstack.proxy import CuttableProxy
from aquaflow_devstack.rabbitmq import DEFAULT_URL, ensure_rabbitmq
from aquaflow_devstack.s3 import S3Server, start_s3
from aquaflow_shared.topology import S3_NOTIFICATION, Topology

REPO_ROOT = Path(__file__).resolve().parents[3]


def served_models(repository: Path = REPO_ROOT / "model_repository") -> tuple[str, ...]:
    """The models of a Triton repository: every folder with a config.pbtxt."""
    return tuple(sorted(p.parent.name for p in repository.glob("*/config.pbtxt")))


@dataclass
class StackConfig:
    prefix: str
    workdir: Path
    buckets: dict[str, str]  # bucket → tenant
    models: tuple[str, ...] = ("plankton_classifier",)
    model_repository: Path = REPO_ROOT / "model_repository"
    routing_table: Path = REPO_ROOT / "config" / "routing.yaml"
    broker_url: str = DEFAULT_URL
    mongodb_url: str | None = None  # use this MongoDB instead of starting one
    triton_grpc_url: str | None = None  # use a running Triton instead of starting one
    # Where inference writes crops and previews; created at start.
    output_bucket: str = "aquaflow-output"
    # Put S3 and Triton behind proxies that a fault run can cut.
    cuttable: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    # Extra environment per service name (results, router, ingest, inference-<model>).
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Run the EcoTaxa stand-in and let results push complete samples into it.
    ecotaxa: bool = False
    # How often the pusher looks at a running import and at due samples: short, so a
    # push takes well under a second instead of EcoTaxa-friendly seconds.
    ecotaxa_poll_seconds: float = 0.2


def _new_api_tokens(tenants: set[str]) -> dict[str, str]:
    """One random bearer token per tenant (the API wants at least 16 characters)."""
    return {tenant: secrets.token_urlsafe(24) for tenant in sorted(tenants)}


def _ecotaxa_accounts(tenants: set[str]) -> dict[str, dict[str, Any]]:
    """One EcoTaxa user and project per tenant, as ``AQUAFLOW_ECOTAXA_TENANTS`` describes them."""
    return {
        tenant: {"username": f"{tenant}-importer", "password": secrets.token_urlsafe(12), "project_id": number}
        for number, tenant in enumerate(sorted(tenants), start=1)
    }


class NativeStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.topology = Topology(prefix=config.prefix)
        self.s3: S3Server | None = None
        self.triton: Any = None
        self.mongo: MongoServer | None = None
        self.mongodb_url = config.mongodb_url or ""
        self.s3_proxy: CuttableProxy | None = None
        self.triton_proxy: CuttableProxy | None = None
        self.services: dict[str, ServiceProcess] = {}
        tenants = set(config.buckets.values())
        # Made once, so a restarted results service answers the same tokens.
        self._api_tokens = _new_api_tokens(tenants)
        self._ecotaxa_accounts = _ecotaxa_accounts(tenants) if config.ecotaxa else {}
        self.ecotaxa: EcoTaxaServer | None = None

    @property
    def start_parts(self) -> int:
        """How many times ``start`` reports progress: one per part it starts."""
        cfg = self.config
        optional = (cfg.mongodb_url is None, cfg.triton_grpc_url is None, cfg.ecotaxa)
        # RabbitMQ, S3, results, router, ingest, one inference service per model.
        return 5 + len(cfg.models) + sum(optional)

    def api_token(self, tenant: str) -> str:
        """The tenant's bearer token for the results API."""
        return self._api_tokens[tenant]

    def ecotaxa_project(self, tenant: str) -> int:
        """The stand-in EcoTaxa project the tenant's samples are imported into."""
        project: int = self._ecotaxa_accounts[tenant]["project_id"]
        return project

    def __enter__(self) -> NativeStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, progress: Callable[[str], None] = lambda _: None) -> None:
        cfg = self.config
        progress("RabbitMQ")
        ensure_rabbitmq(cfg.broker_url)
        progress("S3")
        self.s3 = start_s3()
        s3 = self.s3.client()
        for bucket in (*cfg.buckets, cfg.output_bucket):
            s3.create_bucket(Bucket=bucket)
        s3_endpoint = self.s3.endpoint_url
        if cfg.cuttable:
            self.s3_proxy = CuttableProxy("127.0.0.1", int(s3_endpoint.rsplit(":", 1)[1])).start()
            s3_endpoint = f"http://{self.s3_proxy.address}"
        if not self.mongodb_url:
            progress("MongoDB")
            self.mongo = start_mongo(cfg.workdir / "mongo")
            self.mongodb_url = self.mongo.url
        grpc_url = cfg.triton_grpc_url
        if grpc_url is None:
            progress("Triton")
            self.triton = self._start_triton()
            grpc_url = self.triton.grpc_url
        if cfg.cuttable:
            triton_host, triton_port = grpc_url.rsplit(":", 1)
            self.triton_proxy = CuttableProxy(triton_host or "127.0.0.1", int(triton_port)).start()
            grpc_url = self.triton_proxy.address
        common = {
            "AQUAFLOW_BROKER_URL": cfg.broker_url,
            "AQUAFLOW_BROKER_PREFIX": cfg.prefix,
            "AQUAFLOW_S3_ENDPOINT_URL": s3_endpoint,
            "AQUAFLOW_S3_ACCESS_KEY_ID": self.s3.access_key,
            "AQUAFLOW_S3_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AQUAFLOW_S3_REGION": self.s3.region,
            **cfg.extra_env,
        }
        if cfg.ecotaxa:
            progress("EcoTaxa stand-in")
            self.ecotaxa = self._start_ecotaxa()
        specs: list[tuple[str, str, dict[str, str]]] = [
            ("results", "aquaflow_results", self._results_env()),
            *[
                (
                    f"inference-{model}",
                    "aquaflow_inference",
                    {
                        "AQUAFLOW_INFERENCE_MODEL": model,
                        "AQUAFLOW_INFERENCE_TRITON_GRPC_URL": grpc_url,
                        "AQUAFLOW_INFERENCE_OUTPUT_BUCKET": cfg.output_bucket,
                    },
                )
                for model in cfg.models
            ],
            ("router", "aquaflow_router", {"AQUAFLOW_ROUTER_ROUTING_TABLE": str(cfg.routing_table)}),
            ("ingest", "aquaflow_ingest", {"AQUAFLOW_INGEST_BUCKETS": json.dumps(cfg.buckets)}),
        ]
        for name, module, own_env in specs:
            env = {**common, **own_env, **cfg.service_env.get(name, {})}
            service = ServiceProcess(name, module, env, free_port(), cfg.workdir / "logs" / f"{name}.log")
            self.services[name] = service
            progress(name)
            service.start()
        for service in self.services.values():
            service.wait_healthy(timeout=120)

    def _results_env(self) -> dict[str, str]:
        env = {
            "AQUAFLOW_RESULTS_MONGODB_URL": self.mongodb_url,
            "AQUAFLOW_RESULTS_API_TOKENS": json.dumps(self._api_tokens),
        }
        if self.ecotaxa is not None:
            poll = str(self.config.ecotaxa_poll_seconds)
            env |= {
                "AQUAFLOW_ECOTAXA_URL": self.ecotaxa.url,
                "AQUAFLOW_ECOTAXA_TENANTS": json.dumps(self._ecotaxa_accounts),
                "AQUAFLOW_ECOTAXA_POLL_INTERVAL_SECONDS": poll,
                "AQUAFLOW_ECOTAXA_IDLE_INTERVAL_SECONDS": poll,
            }
        return env

    def _start_ecotaxa(self) -> EcoTaxaServer:
        accounts = self._ecotaxa_accounts.values()
        return start_ecotaxa(
            users={a["username"]: a["password"] for a in accounts},
            projects={a["project_id"]: [a["username"]] for a in accounts},
        )

    def _start_triton(self) -> Any:
        from aquaflow_devstack.triton import start_triton

        return start_triton(self.config.model_repository, self.config.workdir / "triton")

    def stop_triton(self) -> None:
        if self.triton is not None:
            self.triton.stop()
            self.triton = None

    def start_triton_again(self) -> None:
        """A new Triton (new ports) behind the same proxy: to the services, the old address answers again."""
        assert self.triton_proxy is not None, "needs cuttable=True"
        self.triton = self._start_triton()
        host, port = self.triton.grpc_url.rsplit(":", 1)
        self.triton_proxy.retarget(host or "127.0.0.1", int(port))

    def kill_mongo(self) -> None:
        """SIGKILL the MongoDB server this stack started (its data stays on disk)."""
        assert self.mongo is not None, "MongoDB was not started by this stack"
        self.mongo.kill()

    def start_mongo_again(self) -> None:
        """The same server on the same data and port: a replica set member is known by its address."""
        self.mongo = start_secantus(self.config.workdir / "mongo", port=_host_port(self.mongodb_url)[1])

    def restart(self, name: str, *, kill: bool = True, wait: bool = True) -> None:
        """SIGKILL (or stop) a service and start it again with the same environment and port."""
        service = self.services[name]
        if kill:
            service.kill()
        else:
            service.stop()
        service.start()
        if wait:
            service.wait_healthy(timeout=180)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        for proxy in (self.s3_proxy, self.triton_proxy):
            if proxy is not None:
                proxy.stop()
        if self.triton is not None:
            self.triton.stop()
            self.triton = None
        if self.s3 is not None:
            self.s3.stop()
            self.s3 = None
        if self.mongo is not None:
            self.mongo.stop()
            self.mongo = None
        if self.ecotaxa is not None:
            self.ecotaxa.stop()
            self.ecotaxa = None

    @property
    def results_url(self) -> str:
        return self.services["results"].base_url

    def upload(self, bucket: str, key: str, body: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """Put an object into S3 and return the MinIO notification announcing it."""
        assert self.s3 is not None
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        client = self.s3.client()
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {})
        return minio_event_for_put(client, bucket, key)

    async def notify(self, events: list[dict[str, Any]]) -> None:
        """Publish notifications as MinIO's AMQP target does: persistent, confirmed, into the notifications exchange."""
        connection = await aio_pika.connect(self.config.broker_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.topology.notifications.name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            for event in events:
                await exchange.publish(
                    aio_pika.Message(
                        json.dumps(event).encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        content_type="application/json",
                    ),
                    routing_key=S3_NOTIFICATION,
                )


def _host_port(url: str) -> tuple[str, int]:
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    host, port = netloc.rsplit(":", 1)
    return host, int(port)
