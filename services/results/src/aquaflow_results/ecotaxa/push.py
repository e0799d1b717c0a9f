"""Pushing complete samples to EcoTaxa: one step of one sample at a time, state kept in MongoDB.

Each round claims one due sample (an atomic ``find_one_and_update`` with a lease, so two
replicas never work on the same sample) and moves it one step: build and upload the
package, start the import, or look at the import job. The new state is saved before the
next step, so a crash at any point repeats at most one step, and every step is safe to
repeat (the same archive name, deterministic object ids, ``skip_existing_objects``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection

from aquaflow_results.ecotaxa.client import EcoTaxaClient
from aquaflow_results.ecotaxa.crops import CropReader, S3CropReader
from aquaflow_results.ecotaxa.errors import MissingImage
from aquaflow_results.ecotaxa.mongo import ClaimedSample, Document, MongoPushStore, PushStore, request_push
from aquaflow_results.ecotaxa.package import assemble_package, image_refs
from aquaflow_results.ecotaxa.settings import EcoTaxaAccount, EcoTaxaSettings
from aquaflow_results.ecotaxa.state import (
    Backoff,
    JobStatus,
    Push,
    PushState,
    import_folder,
    import_started,
    job_observed,
    nothing_to_import,
    permanent_failure,
    transient_failure,
    uploaded,
)
from aquaflow_shared.errors import PermanentError, TransientError
from aquaflow_shared.settings import S3Settings

__all__ = ["EcoTaxaApi", "EcoTaxaPusher", "create_pusher", "request_push"]

log = structlog.get_logger("aquaflow.results.ecotaxa")

# Images read from S3 at once while a package is built.
_READ_CONCURRENCY = 8
# How often pushes of tenants without an EcoTaxa account are marked not_configured.
_UNCONFIGURED_SWEEP_SECONDS = 60.0


class EcoTaxaApi(Protocol):
    """What the pusher needs of EcoTaxa (``EcoTaxaClient``)."""

    @property
    def logged_in(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def login(self, username: str, password: str | SecretStr) -> str: ...

    async def upload(self, data: bytes, filename: str) -> str: ...

    async def start_import(self, project_id: int, source_path: str, *, skip_existing_objects: bool = True) -> int: ...

    async def job(self, job_id: int) -> JobStatus: ...


class PushObserver(Protocol):
    """Told of every saved step (the results service's metrics)."""

    def push_step(self, before: Push, after: Push) -> None: ...


class EcoTaxaPusher:
    def __init__(
        self,
        settings: EcoTaxaSettings,
        store: PushStore,
        crops: CropReader,
        *,
        client_factory: Callable[[], EcoTaxaApi] | None = None,
        clock: Callable[[], datetime] | None = None,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
        observer: PushObserver | None = None,
    ) -> None:
        if settings.url is None:
            raise ValueError("EcoTaxa has no URL configured")
        url = settings.url
        self._settings = settings
        self._store = store
        self._crops = crops
        self._new_client: Callable[[], EcoTaxaApi] = client_factory or (
            lambda: EcoTaxaClient(url, timeout_seconds=settings.timeout_seconds)
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._backoff = Backoff(settings.backoff_initial_seconds, settings.backoff_max_seconds)
        self._clients: dict[str, EcoTaxaApi] = {}
        self._last_sweep: datetime | None = None
        self._closers = tuple(closers)
        self._observer = observer

    async def run(self, stop: asyncio.Event) -> None:
        """Push until ``stop`` is set; closes its EcoTaxa sessions on the way out."""
        log.info("ecotaxa pusher started", tenants=sorted(self._settings.tenants))
        failures = 0
        indexed = False
        try:
            while not stop.is_set():
                try:
                    if not indexed:
                        await self._store.ensure_indexes()
                        indexed = True
                    worked = await self.run_once()
                    failures = 0
                except TransientError as error:
                    # The push store (MongoDB) is unreachable: wait, then try again.
                    failures += 1
                    log.warning("ecotaxa pusher cannot reach its store", error=str(error), failures=failures)
                    worked = False
                if not worked:
                    pause = self._backoff.delay(failures) if failures else self._settings.idle_interval_seconds
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            await self.close()
            log.info("ecotaxa pusher stopped")

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
        for closer in self._closers:
            await closer()

    async def run_once(self) -> bool:
        """Claim one due sample and move it one step; False when no sample was due."""
        now = self._clock()
        tenants = set(self._settings.tenants)
        if self._last_sweep is None or (now - self._last_sweep).total_seconds() >= _UNCONFIGURED_SWEEP_SECONDS:
            self._last_sweep = now
            marked = await self._store.mark_not_configured(tenants, now=now)
            if marked:
                log.info("samples of tenants without EcoTaxa account not pushed", samples=marked)
        if not tenants:
            return False
        lease_until = now + timedelta(seconds=self._settings.lease_seconds)
        claimed = await self._store.claim(tenants, now=now, lease_until=lease_until, token=uuid.uuid4().hex)
        if claimed is None:
            return False
        new = await self.advance(claimed)
        if not await self._store.save(claimed, new):
            log.warning(
                "ecotaxa push lease lost; the step will be repeated", tenant=claimed.tenant, sample_id=claimed.sample_id
            )
            return True
        if self._observer is not None:
            self._observer.push_step(claimed.push, new)
        log.info(
            "ecotaxa push step",
            tenant=claimed.tenant,
            sample_id=claimed.sample_id,
            before=claimed.push.state.value,
            after=new.state.value,
            job_id=new.job_id,
            attempts=new.attempts,
            reason=new.reason if new.state is not PushState.IMPORTING else None,
            last_error=new.last_error,
        )
        return True

    async def advance(self, claimed: ClaimedSample) -> Push:
        """One step of the state machine; never raises for EcoTaxa's or S3's failures."""
        push = claimed.push
        account = self._settings.tenants.get(claimed.tenant)
        if account is None:
            return permanent_failure(push, reason="the tenant has no EcoTaxa account configured", now=self._clock())
        steps = {
            PushState.PENDING: self._upload,
            PushState.UPLOADED: self._start_import,
            PushState.IMPORTING: self._poll,
        }
        step = steps.get(push.state)
        if step is None:
            return push
        try:
            return await step(claimed, account)
        except TransientError as error:
            return transient_failure(push, reason=str(error), now=self._clock(), backoff=self._backoff)
        except PermanentError as error:
            return permanent_failure(push, reason=error.reason, now=self._clock())
        except Exception as error:
            log.exception("ecotaxa push step failed unexpectedly", tenant=claimed.tenant, sample_id=claimed.sample_id)
            reason = f"unexpected {type(error).__name__}: {error}"
            return transient_failure(push, reason=reason, now=self._clock(), backoff=self._backoff)

    async def _upload(self, claimed: ClaimedSample, account: EcoTaxaAccount) -> Push:
        results = await self._store.results_of(claimed.tenant, claimed.sample_id)
        images = await self._read_images(results)
        package = assemble_package(claimed.document, results, images)
        for skipped in package.skipped:
            log.warning(
                "object left out of the ecotaxa package",
                tenant=claimed.tenant,
                sample_id=claimed.sample_id,
                object_id=skipped.object_id,
                reason=skipped.reason,
            )
        if not package.object_ids:
            return nothing_to_import(
                claimed.push, project_id=account.project_id, skipped=len(package.skipped), now=self._clock()
            )
        client = await self._client(claimed.tenant, account)
        server_path = await client.upload(package.data, package.filename)
        return uploaded(
            claimed.push,
            project_id=account.project_id,
            server_path=server_path,
            skipped=len(package.skipped),
            now=self._clock(),
        )

    async def _start_import(self, claimed: ClaimedSample, account: EcoTaxaAccount) -> Push:
        push = claimed.push
        if push.server_path is None:
            return permanent_failure(push, reason="uploaded without a server path", now=self._clock())
        client = await self._client(claimed.tenant, account)
        job_id = await client.start_import(
            push.project_id or account.project_id, import_folder(push.server_path), skip_existing_objects=True
        )
        return import_started(
            push, job_id=job_id, now=self._clock(), poll_interval_seconds=self._settings.poll_interval_seconds
        )

    async def _poll(self, claimed: ClaimedSample, account: EcoTaxaAccount) -> Push:
        push = claimed.push
        if push.job_id is None:
            return permanent_failure(push, reason="importing without a job id", now=self._clock())
        client = await self._client(claimed.tenant, account)
        job = await client.job(push.job_id)
        return job_observed(push, job, now=self._clock(), poll_interval_seconds=self._settings.poll_interval_seconds)

    async def _read_images(self, results: list[Document]) -> dict[str, bytes]:
        gate = asyncio.Semaphore(_READ_CONCURRENCY)
        images: dict[str, bytes] = {}

        async def read(object_id: str, bucket: str, key: str) -> None:
            async with gate:
                try:
                    images[object_id] = await self._crops.read(bucket, key)
                except MissingImage as missing:
                    log.warning("object image missing", object_id=object_id, reason=missing.reason)

        outcomes = await asyncio.gather(
            *(read(ref.object_id, ref.bucket, ref.key) for ref in image_refs(results)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return images

    async def _client(self, tenant: str, account: EcoTaxaAccount) -> EcoTaxaApi:
        client = self._clients.get(tenant)
        if client is None:
            client = self._new_client()
            await client.open()
            self._clients[tenant] = client
        if not client.logged_in:
            await client.login(account.username, account.password)
        return client


def create_pusher(
    settings: EcoTaxaSettings,
    s3: S3Settings,
    samples: AsyncCollection[Document],
    results: AsyncCollection[Document],
    observer: PushObserver | None = None,
) -> EcoTaxaPusher | None:
    """The pusher the results service runs (``await pusher.run(stop)``); None if EcoTaxa is not configured."""
    if settings.url is None:
        return None
    crops = S3CropReader(s3)
    return EcoTaxaPusher(settings, MongoPushStore(samples, results), crops, closers=[crops.close], observer=observer)
