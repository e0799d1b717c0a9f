"""The AsyncAPI document of aquaflow's events, generated from the contracts themselves.

``python -m aquaflow_shared.asyncapi > docs/asyncapi.json`` rewrites the committed
document; a unit test fails when the two differ, so the document cannot drift from
the code.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from aquaflow_shared.contracts import (
    InferenceCompleted,
    InferenceRequested,
    ObjectReceived,
    ResultAvailable,
    SampleManifestReceived,
)
from aquaflow_shared.topology import INFERENCE_COMPLETED, OBJECT_RECEIVED, SAMPLE_MANIFEST

DELIVERY = (
    "Delivery is at least once: a message can arrive more than once (a broker restart, a consumer "
    "killed before its acknowledgement, a publisher confirm lost after the broker stored the message). "
    "Its `message_id` is stable, derived from the object version (bucket, key, ETag/version id), the "
    "model and the model version the routing rule pinned, if any, so a consumer that must act once "
    "records the ids it has acted on and skips the rest "
    "(see examples/result_subscriber.py)."
)

CHANNELS: list[tuple[str, str, type[BaseModel], str, str]] = [
    (
        "objectReceived",
        OBJECT_RECEIVED,
        ObjectReceived,
        "ingest",
        "An object version appeared in a watched bucket (notification, webhook, sweep or archive expansion).",
    ),
    (
        "inferenceRequested",
        "inference.requested.{model}",
        InferenceRequested,
        "router",
        "Run one model on one object, as the routing rule's profile says; one queue per model. A rule "
        "naming several models sends one request per model, the first of them marked `primary`; "
        "`model_version` is the version the rule pinned (or its canary), null for the worker's default.",
    ),
    (
        "sampleManifest",
        SAMPLE_MANIFEST,
        SampleManifestReceived,
        "router",
        "A sample manifest was uploaded beside a sample's images (docs/samples.md).",
    ),
    (
        "inferenceCompleted",
        INFERENCE_COMPLETED,
        InferenceCompleted,
        "inference",
        "The outcome of one inference request, with crops and preview keys in the output bucket.",
    ),
    (
        "resultAvailable",
        "result.{profile}.{tenant}",
        ResultAvailable,
        "results",
        "A result is stored and can be read through the results API. Bind a queue to `result.#`, "
        "`result.zooscan.*` or `result.*.<tenant>`.",
    ),
]


def document(exchange: str = "aquaflow.events") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, address, model, publisher, summary in CHANNELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= schema.pop("$defs", {})
        schemas[model.__name__] = schema
        parameters = {
            p: {"description": f"the {p} segment"} for p in ("model", "profile", "tenant") if f"{{{p}}}" in address
        }
        channels[name] = {
            "address": address,
            "description": f"{summary}\n\n{DELIVERY}",
            "messages": {model.__name__: {"$ref": f"#/components/messages/{model.__name__}"}},
            "bindings": {
                "amqp": {"is": "routingKey", "exchange": {"name": exchange, "type": "topic", "durable": True}}
            },
            **({"parameters": parameters} if parameters else {}),
        }
        operations[f"{publisher}Publishes{name[0].upper()}{name[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"published by {publisher}, persistent, with publisher confirms",
        }
    messages = {
        model.__name__: {
            "name": model.__name__,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "headers": {
                "type": "object",
                "properties": {
                    "x-aquaflow-tenant": {"type": "string"},
                    "x-aquaflow-schema-version": {"type": "integer"},
                },
            },
            "correlationId": {"location": "$message.payload#/correlation_id"},
        }
        for _, _, model, _, _ in CHANNELS
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "aquaflow events",
            "version": "1",
            "description": "Events on the topic exchange `<prefix>.events` (default prefix `aquaflow`). " + DELIVERY,
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
