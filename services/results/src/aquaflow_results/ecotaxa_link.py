"""Where the EcoTaxa package builder and pusher (``aquaflow_results.ecotaxa``) plug in.

They are looked up by name, so this service runs, and says so, when that package
is absent; the calls' shapes are the Protocols below.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import structlog

from aquaflow_results.ports import SampleReadyHook, SampleStore, Store

ECOTAXA_MODULE = "aquaflow_results.ecotaxa"


class PackageBuilder(Protocol):
    def __call__(self, sample: dict[str, Any], results: Sequence[dict[str, Any]], crops: Mapping[str, bytes]) -> bytes:
        """The zip EcoTaxa imports for one sample."""


class PushRequester(Protocol):
    def __call__(self, samples_collection: Any, tenant: str, sample_id: str) -> Any:
        """Ask for one sample's push to EcoTaxa (may return an awaitable)."""


def _lookup(name: str) -> Any | None:
    try:
        module = importlib.import_module(ECOTAXA_MODULE)
    except ModuleNotFoundError as missing:
        if missing.name != ECOTAXA_MODULE:
            raise
        return None
    return getattr(module, name, None)


def package_builder() -> PackageBuilder | None:
    found: PackageBuilder | None = _lookup("build_package")
    return found


def push_requester() -> PushRequester | None:
    found: PushRequester | None = _lookup("request_push")
    return found


async def request_push(samples: SampleStore, tenant: str, sample_id: str) -> bool:
    """Call the pusher's ``request_push``; False when the EcoTaxa code is not installed."""
    requester = push_requester()
    if requester is None:
        return False
    outcome = requester(samples.collection, tenant, sample_id)
    if inspect.isawaitable(outcome):
        await outcome
    return True


def push_when_ready(store: Store) -> SampleReadyHook:
    """The hook the use cases call when a sample is complete or closed."""
    log = structlog.get_logger("results")

    async def hook(tenant: str, sample_id: str) -> None:
        if not await request_push(store.samples, tenant, sample_id):
            log.debug("sample ready, no EcoTaxa pusher installed", tenant=tenant, sample_id=sample_id)

    return hook
