"""The operators' endpoints: batches (``aquaflow batch``) and failed uploads (``aquaflow upload``).

Tenant-scoped as the rest of the API: a tenant's token sees only its own batches and
failed uploads, and another tenant's batch id answers 404 like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from aquaflow_results.batch_store import BatchCollections, LazyBatches
from aquaflow_results.batches import BatchSpec, ItemState, default_batch_id
from aquaflow_results.mongo_batches import BatchConflict, ListedObject, MongoBatches
from aquaflow_shared.batches import BatchId
from aquaflow_shared.contracts import RoutingSegment

MAX_PAGE = 1000
DEFAULT_PAGE = 100

# The same scheme as the rest of the API (``api.bearer``); declared here too because this
# module is included by ``api.create_api`` and cannot import from it.
bearer = HTTPBearer(auto_error=False, description="the tenant's API token")


def tenant(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    found = request.app.state.context.tokens.tenant_for(credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return str(found)


async def batches(request: Request) -> MongoBatches:
    state = request.app.state
    lazy: LazyBatches | None = getattr(state, "batches", None)
    if lazy is None:
        lazy = state.batches = LazyBatches(state.context.store, BatchCollections())
    return await lazy.get()


Tenant = Annotated[str, Depends(tenant)]
Batches = Annotated[MongoBatches, Depends(batches)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size, 1 to 1000")]
After = Annotated[str | None, Query(description="the `next` value of the previous page")]
BatchIdPath = Annotated[BatchId, Path(description="the batch id")]


class BatchRequest(BaseModel):
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="", max_length=1024, description="object keys starting with this")
    model: RoutingSegment | None = Field(default=None, description="the model whose results complete an item")
    reprocess: bool = Field(default=False, description="send objects whose result is stored too")
    id: BatchId | None = Field(default=None, description="a name for the batch; derived from the request if left out")


class ListedObjectIn(BaseModel):
    key: str = Field(min_length=1, max_length=1024)
    etag: str = Field(min_length=1, max_length=130)
    size: int | None = Field(default=None, ge=0)

    @field_validator("etag")
    @classmethod
    def _unquoted(cls, value: str) -> str:
        return value.strip('"')


class ListedPage(BaseModel):
    objects: list[ListedObjectIn] = Field(max_length=MAX_PAGE)


class ToSend(BaseModel):
    send: list[dict[str, Any]] = Field(description="items to send to ingest now: id, key, etag, size")
    skipped: int = Field(description="new items whose result was stored before the batch")
    known: int = Field(description="items registered by an earlier run")


class Sent(BaseModel):
    ids: list[str] = Field(max_length=MAX_PAGE, description="items whose requests the broker confirmed")
    listed_until: str | None = Field(default=None, description="the last key of the listing page")
    listing_done: bool = Field(default=False, description="the listing reached the end of the prefix")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


def _public(document: dict[str, Any]) -> dict[str, Any]:
    return {"id": document["_id"], **{k: v for k, v in document.items() if k != "_id"}}


def _item(document: dict[str, Any]) -> dict[str, Any]:
    keep = ("key", "etag", "size", "state", "result_id", "stage", "code", "reason", "enqueued_at", "settled_at")
    return {"id": document["_id"], **{k: document.get(k) for k in keep}}


async def _batch_or_404(store: MongoBatches, tenant_name: str, batch_id: str) -> dict[str, Any]:
    found = await store.get(tenant_name, batch_id)
    if found is None:
        raise HTTPException(404, f"no batch {batch_id!r}")
    return found


def batch_routes() -> APIRouter:
    router = APIRouter(tags=["batches"])

    @router.post("/batches", summary="Start a batch, or find the one this request started before")
    async def start(body: BatchRequest, tenant_name: Tenant, store: Batches) -> dict[str, Any]:
        """Idempotent: the same request (or the same id) answers the same batch, so running it again resumes it."""
        spec = BatchSpec(body.bucket, body.prefix, body.model, body.reprocess)
        batch_id = body.id or default_batch_id(tenant_name, spec)
        try:
            batch, created = await store.create(tenant_name, batch_id, spec)
        except BatchConflict as conflict:
            raise HTTPException(409, str(conflict)) from conflict
        return await store.view(batch) | {"created": created}

    @router.get("/batches", response_model=Page, summary="The tenant's batches, by id")
    async def list_batches(
        tenant_name: Tenant, store: Batches, limit: Limit = DEFAULT_PAGE, cursor: After = None
    ) -> Page:
        found, after = await store.find(tenant_name, cursor, limit)
        return Page(items=[await store.view(b) for b in found], next=after)

    @router.get("/batches/{batch_id}", summary="A batch and its progress")
    async def get_batch(batch_id: BatchIdPath, tenant_name: Tenant, store: Batches) -> dict[str, Any]:
        """Items are settled from the stored results, failed uploads and dead letters before the figures are read."""
        batch = await _batch_or_404(store, tenant_name, batch_id)
        await store.refresh(batch)
        return await store.view(batch)

    @router.get("/batches/{batch_id}/items", response_model=Page, summary="A batch's items, by id")
    async def list_items(
        *,
        batch_id: BatchIdPath,
        tenant_name: Tenant,
        store: Batches,
        state: ItemState | None = None,
        limit: Limit = DEFAULT_PAGE,
        cursor: After = None,
    ) -> Page:
        await _batch_or_404(store, tenant_name, batch_id)
        found, after = await store.items(batch_id, state.value if state else None, cursor, limit)
        return Page(items=[_item(d) for d in found], next=after)

    @router.post("/batches/{batch_id}/items", response_model=ToSend, summary="Register a page of the listing")
    async def register(batch_id: BatchIdPath, page: ListedPage, tenant_name: Tenant, store: Batches) -> ToSend:
        """Answers the items to send now: new ones not stored yet (all new ones when reprocessing), and items an
        interrupted run registered but never confirmed sending."""
        batch = await _batch_or_404(store, tenant_name, batch_id)
        listed = [ListedObject(o.key, o.etag, o.size) for o in page.objects]
        registered = await store.register(batch, listed)
        return ToSend(
            send=[
                {"id": d["_id"], "key": d["key"], "etag": d["etag"], "size": d.get("size")} for d in registered.to_send
            ],
            skipped=registered.skipped,
            known=registered.known,
        )

    @router.post("/batches/{batch_id}/enqueued", summary="Confirm items sent; record how far the listing got")
    async def enqueued(batch_id: BatchIdPath, sent: Sent, tenant_name: Tenant, store: Batches) -> dict[str, Any]:
        batch = await _batch_or_404(store, tenant_name, batch_id)
        updated = await store.mark_sent(batch, sent.ids, listed_until=sent.listed_until, listing_done=sent.listing_done)
        return await store.view(updated)

    @router.get("/failures", response_model=Page, tags=["results"], summary="Uploads that failed, with no result since")
    async def failures(
        *,
        tenant_name: Tenant,
        store: Batches,
        bucket: str | None = None,
        prefix: Annotated[str | None, Query(description="object keys starting with this")] = None,
        stage: Annotated[
            str | None, Query(description="the stage that dead-lettered it: inference.<model>, router…")
        ] = None,
        code: str | None = None,
        sample_id: str | None = None,
        model: str | None = None,
        limit: Limit = DEFAULT_PAGE,
        cursor: After = None,
    ) -> Page:
        """The dead letters of the tenant's uploads, one per object version and stage (the latest reason), while
        no result of the object version is stored; by id. Uploads refused before their tenant is known (an S3
        notification ingest cannot read) are only in the dead-letter queue."""
        fields = {"object.bucket": bucket, "stage": stage, "code": code, "sample_id": sample_id, "model": model}
        filters = {name: value for name, value in fields.items() if value is not None}
        found, after = await store.letters.open_page(tenant_name, filters, prefix, cursor, limit)
        return Page(items=[_public(d) for d in found], next=after)

    return router
