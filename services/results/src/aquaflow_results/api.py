"""The results API (FastAPI): results, samples, crops and EcoTaxa packages, per tenant.

Each tenant has its own bearer token; a token sees only its tenant's data, and
another tenant's ids answer 404 exactly like ids that do not exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from aquaflow_results import ecotaxa_link
from aquaflow_results.auth import TenantTokens
from aquaflow_results.batch_api import batch_routes
from aquaflow_results.cursors import Cursor, CursorInvalid
from aquaflow_results.ports import ObjectReader, Page, ResultQuery, SampleReadyHook, Store
from aquaflow_results.samples import close_sample
from aquaflow_shared.contracts import SampleId
from aquaflow_shared.errors import DependencyUnavailable

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
API_TITLE = "aquaflow results"
API_VERSION = "1"


@dataclass(frozen=True)
class ApiContext:
    """The adapters the API reads through, set on ``app.state.context`` by the composition root."""

    # The store's collections are reached through it at request time: they exist once it is open.
    store: Store
    objects: ObjectReader
    tokens: TenantTokens
    on_sample_ready: SampleReadyHook


class ItemsPage(BaseModel):
    items: list[dict[str, Any]]
    # Pass as ``cursor`` to get the next page; null on the last page.
    next: str | None


bearer = HTTPBearer(auto_error=False, description="the tenant's API token")


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.context
    return found


def tenant(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    found = context(request).tokens.tenant_for(credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return found


Tenant = Annotated[str, Depends(tenant)]
Context = Annotated[ApiContext, Depends(context)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size, 1 to 1000")]
CursorText = Annotated[str | None, Query(description="the `next` value of the previous page")]
SampleIdPath = Annotated[SampleId, Path(description="the sample id")]


def _public(document: dict[str, Any]) -> dict[str, Any]:
    return {"id": document["_id"], **{k: v for k, v in document.items() if k != "_id"}}


def _page(page: Page) -> ItemsPage:
    return ItemsPage(items=[_public(d) for d in page.items], next=page.next.encode() if page.next else None)


def _cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.decode(text)
    except CursorInvalid as error:
        raise HTTPException(400, "invalid cursor") from error


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _sample_or_404(ctx: ApiContext, tenant_name: str, sample_id: str) -> dict[str, Any]:
    sample = await ctx.store.samples.get(tenant_name, sample_id)
    if sample is None:
        raise HTTPException(404, f"no sample {sample_id!r}")
    return sample


async def _unavailable(request: Request, error: Exception) -> Response:
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"})


def create_api() -> FastAPI:
    api = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description="Stored inference results and per-sample aggregates of aquaflow, per tenant.",
    )
    api.add_exception_handler(DependencyUnavailable, _unavailable)

    @api.get("/results", response_model=ItemsPage, tags=["results"])
    async def list_results(
        *,
        tenant_name: Tenant,
        ctx: Context,
        bucket: str | None = None,
        key: str | None = None,
        prefix: Annotated[str | None, Query(description="object keys starting with this")] = None,
        profile: str | None = None,
        model: str | None = None,
        model_version: Annotated[str | None, Query(description="the model version that ran")] = None,
        sample_id: str | None = None,
        label: Annotated[str | None, Query(description="results with an object predicted as this")] = None,
        correlation_id: str | None = None,
        stored_after: datetime | None = None,
        stored_before: datetime | None = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: CursorText = None,
    ) -> ItemsPage:
        """Results, oldest first, one page at a time."""
        equals = {
            name: value
            for name, value in {
                "bucket": bucket,
                "key": key,
                "profile": profile,
                "model": model,
                "model_version": model_version,
                "sample_id": sample_id,
                "correlation_id": correlation_id,
            }.items()
            if value is not None
        }
        query = ResultQuery(
            tenant=tenant_name,
            equals=equals,
            key_prefix=prefix,
            label=label,
            stored_after=_utc(stored_after),
            stored_before=_utc(stored_before),
            after=_cursor(cursor),
            limit=limit,
        )
        return _page(await ctx.store.results.find(query))

    @api.get("/results/{result_id}", tags=["results"])
    async def get_result(tenant_name: Tenant, ctx: Context, result_id: str) -> dict[str, Any]:
        found = await ctx.store.results.get(tenant_name, result_id)
        if found is None:
            raise HTTPException(404, f"no result {result_id!r}")
        return _public(found)

    @api.get(
        "/results/{result_id}/objects/{index}/crop.png",
        tags=["results"],
        response_class=StreamingResponse,
        responses={200: {"content": {"image/png": {}}, "description": "the object's crop"}},
    )
    async def get_crop(
        tenant_name: Tenant, ctx: Context, result_id: str, index: Annotated[int, Path(ge=0)]
    ) -> StreamingResponse:
        """The PNG crop of one object of a result, from the output bucket."""
        found = await ctx.store.results.get(tenant_name, result_id)
        if found is None:
            raise HTTPException(404, f"no result {result_id!r}")
        entry = next((o for o in found.get("objects") or [] if o.get("index") == index), None)
        bucket = found.get("output_bucket")
        if entry is None or not entry.get("crop_key") or not bucket:
            raise HTTPException(404, f"result {result_id!r} has no crop for object {index}")
        stored = await ctx.objects.stream(bucket, entry["crop_key"])
        if stored is None:
            raise HTTPException(404, f"the crop of object {index} is not in the output bucket")
        headers = {"Content-Length": str(stored.length)} if stored.length is not None else {}
        return StreamingResponse(stored.chunks, media_type=stored.content_type or "image/png", headers=headers)

    @api.get("/samples", response_model=ItemsPage, tags=["samples"])
    async def list_samples(
        tenant_name: Tenant, ctx: Context, limit: Limit = DEFAULT_LIMIT, cursor: CursorText = None
    ) -> ItemsPage:
        """Samples by id, with their aggregates and push state."""
        return _page(await ctx.store.samples.find(tenant_name, _cursor(cursor), limit))

    @api.get("/samples/{sample_id}", tags=["samples"])
    async def get_sample(tenant_name: Tenant, ctx: Context, sample_id: SampleIdPath) -> dict[str, Any]:
        return _public(await _sample_or_404(ctx, tenant_name, sample_id))

    @api.post("/samples/{sample_id}/close", tags=["samples"])
    async def close(tenant_name: Tenant, ctx: Context, sample_id: SampleIdPath) -> dict[str, Any]:
        """Declare the sample finished: no more uploads are expected; asks for its EcoTaxa push."""
        closed = await close_sample(tenant_name, sample_id, ctx.store.samples, ctx.on_sample_ready)
        if closed is None:
            raise HTTPException(404, f"no sample {sample_id!r}")
        return _public(closed)

    @api.post("/samples/{sample_id}/push", status_code=202, tags=["samples"])
    async def push(tenant_name: Tenant, ctx: Context, sample_id: SampleIdPath) -> dict[str, Any]:
        """Ask for the sample's push to EcoTaxa now; the answer shows its push state."""
        await _sample_or_404(ctx, tenant_name, sample_id)
        await ecotaxa_link.request_push(ctx.store.samples, tenant_name, sample_id)
        return _public(await _sample_or_404(ctx, tenant_name, sample_id))

    @api.get(
        "/samples/{sample_id}/ecotaxa.zip",
        tags=["samples"],
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}, "description": "the EcoTaxa import package"}},
    )
    async def ecotaxa_package(tenant_name: Tenant, ctx: Context, sample_id: SampleIdPath) -> Response:
        """The sample as an EcoTaxa import package: TSV and crops in one zip."""
        sample = await _sample_or_404(ctx, tenant_name, sample_id)
        results = await ctx.store.results.of_sample(tenant_name, sample_id)
        crops = await _crops(ctx, results)
        # Zipping thousands of crops is CPU work: keep it off the event loop.
        package = await asyncio.to_thread(ecotaxa_link.build_package, sample, results, crops)
        return Response(
            package,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{sample_id}.zip"'},
        )

    api.include_router(batch_routes())
    return api


async def _crops(ctx: ApiContext, results: list[dict[str, Any]]) -> dict[str, bytes]:
    """Every crop the results name that is in the output bucket, by object id (the builder's key)."""
    crops: dict[str, bytes] = {}
    for result in results:
        bucket = result.get("output_bucket")
        for entry in result.get("objects") or []:
            key = entry.get("crop_key")
            if bucket and key:
                stored = await ctx.objects.stream(bucket, key)
                if stored is not None:
                    crops[entry["object_id"]] = b"".join([chunk async for chunk in stored.chunks])
    return crops
