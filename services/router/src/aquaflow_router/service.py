"""The router's use case: one received object in, one inference request per model (or a manifest) out."""

from __future__ import annotations

from aquaflow_router.errors import NoRoute
from aquaflow_router.routing import ModelRun, RoutingTable
from aquaflow_shared.contracts import (
    InferenceRequested,
    ObjectReceived,
    ObjectRef,
    SampleManifestReceived,
    derive_id,
)
from aquaflow_shared.topology import SAMPLE_MANIFEST, inference_requested

MANIFEST_ROUTE = "sample-manifest"

Planned = tuple[InferenceRequested | SampleManifestReceived, str]


def plan(received: ObjectReceived, table: RoutingTable) -> list[Planned]:
    """The events that follow ``received``, each with its routing key."""
    if table.is_manifest(received.object):
        return [(plan_manifest(received), SAMPLE_MANIFEST)]
    return [(request, inference_requested(request.model)) for request in plan_inference(received, table)]


def plan_manifest(received: ObjectReceived) -> SampleManifestReceived:
    obj = received.object
    return SampleManifestReceived(
        message_id=derive_id("sample.manifest", *obj.identity),
        correlation_id=received.correlation_id,
        tenant=received.tenant,
        object=obj,
        route=MANIFEST_ROUTE,
    )


def request_id(obj: ObjectRef, run: ModelRun) -> str:
    """Stable per object version, model and pinned version; without a pin, the id a one-model rule always gave."""
    pinned = (run.version,) if run.version is not None else ()
    return derive_id("inference.requested", *obj.identity, run.model, *pinned)


def plan_inference(received: ObjectReceived, table: RoutingTable) -> list[InferenceRequested]:
    obj = received.object
    rule = table.route(obj)
    if rule is None:
        meta = ", ".join(f"{k}={v}" for k, v in sorted(obj.metadata.items())) or "none"
        raise NoRoute(f"no routing rule matches s3://{obj.bucket}/{obj.key} (metadata: {meta})")
    sample_id = rule.sample.sample_of(obj) if rule.sample is not None else None
    return [
        InferenceRequested(
            message_id=request_id(obj, run),
            correlation_id=received.correlation_id,
            tenant=received.tenant,
            object=obj,
            profile=run.profile,
            model=run.model,
            model_version=run.version,
            primary=run.primary,
            route=rule.name,
            sample_id=sample_id,
        )
        for run in rule.runs(obj)
    ]
