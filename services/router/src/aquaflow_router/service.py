"""The router's use case: one received object in, one inference request (or a manifest) out."""

from __future__ import annotations

from aquaflow_router.errors import NoRoute
from aquaflow_router.routing import RoutingTable
from aquaflow_shared.contracts import InferenceRequested, ObjectReceived, SampleManifestReceived, derive_id
from aquaflow_shared.topology import SAMPLE_MANIFEST, inference_requested

MANIFEST_ROUTE = "sample-manifest"


def plan(received: ObjectReceived, table: RoutingTable) -> tuple[InferenceRequested | SampleManifestReceived, str]:
    """The event that follows ``received`` and its routing key."""
    if table.is_manifest(received.object):
        manifest = plan_manifest(received)
        return manifest, SAMPLE_MANIFEST
    request = plan_inference(received, table)
    return request, inference_requested(request.model)


def plan_manifest(received: ObjectReceived) -> SampleManifestReceived:
    obj = received.object
    return SampleManifestReceived(
        message_id=derive_id("sample.manifest", *obj.identity),
        correlation_id=received.correlation_id,
        tenant=received.tenant,
        object=obj,
        route=MANIFEST_ROUTE,
    )


def plan_inference(received: ObjectReceived, table: RoutingTable) -> InferenceRequested:
    obj = received.object
    rule = table.route(obj)
    if rule is None:
        meta = ", ".join(f"{k}={v}" for k, v in sorted(obj.metadata.items())) or "none"
        raise NoRoute(f"no routing rule matches s3://{obj.bucket}/{obj.key} (metadata: {meta})")
    return InferenceRequested(
        message_id=derive_id("inference.requested", *obj.identity, rule.model),
        correlation_id=received.correlation_id,
        tenant=received.tenant,
        object=obj,
        profile=rule.profile,
        model=rule.model,
        route=rule.name,
        sample_id=rule.sample.sample_of(obj) if rule.sample is not None else None,
    )
