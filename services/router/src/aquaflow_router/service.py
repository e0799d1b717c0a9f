"""The router's use case: one received object in, one inference request out."""

from __future__ import annotations

from aquaflow_router.errors import NoRoute
from aquaflow_router.routing import RoutingTable
from aquaflow_shared.contracts import InferenceRequested, ObjectReceived, derive_id


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
    )
