"""Where the EcoTaxa package builder and pusher (``aquaflow_results.ecotaxa``) meet the samples."""

from __future__ import annotations

import structlog

from aquaflow_results.ecotaxa import build_package
from aquaflow_results.ecotaxa import request_push as request_ecotaxa_push
from aquaflow_results.ports import SampleReadyHook, SampleStore, Store

__all__ = ["build_package", "push_when_ready", "request_push"]


async def request_push(samples: SampleStore, tenant: str, sample_id: str) -> None:
    """Mark the sample's push pending; the pusher loop takes it from there (once, idempotently)."""
    await request_ecotaxa_push(samples.collection, tenant, sample_id)


def push_when_ready(store: Store) -> SampleReadyHook:
    """The hook the use cases call when a sample is complete or closed."""
    log = structlog.get_logger("results")

    async def hook(tenant: str, sample_id: str) -> None:
        await request_push(store.samples, tenant, sample_id)
        log.info("sample ready: EcoTaxa push requested", tenant=tenant, sample_id=sample_id)

    return hook
