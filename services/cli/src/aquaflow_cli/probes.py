"""The services' ``/health`` and ``/metrics``, and Triton's readiness, read over HTTP."""

from __future__ import annotations

import httpx

from aquaflow_cli.status_report import MetricSample, ServiceHealth, parse_metrics


async def service_health(client: httpx.AsyncClient, name: str, url: str | None) -> ServiceHealth:
    """``/health`` answers 200 or 503 with each check's outcome (``aquaflow_shared.http``)."""
    if url is None:
        return ServiceHealth(name, None, None, error="not configured")
    try:
        response = await client.get(f"{url.rstrip('/')}/health")
        checks = response.json()
    except (httpx.HTTPError, ValueError) as error:
        return ServiceHealth(name, url, None, error=f"no answer: {type(error).__name__}")
    if not isinstance(checks, dict):
        return ServiceHealth(name, url, False, error="health answer is not an object")
    healthy = bool(checks.pop("healthy", False)) and response.status_code == 200
    return ServiceHealth(name, url, healthy, checks)


async def metrics(client: httpx.AsyncClient, url: str | None) -> list[MetricSample] | None:
    if url is None:
        return None
    try:
        response = await client.get(f"{url.rstrip('/')}/metrics")
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_metrics(response.text)


async def triton_health(client: httpx.AsyncClient, url: str | None) -> ServiceHealth:
    """Triton's HTTP ``/v2/health/ready``: 200 once its models are loaded."""
    if url is None:
        return ServiceHealth("triton", None, None, error="not configured")
    try:
        response = await client.get(f"{url.rstrip('/')}/v2/health/ready")
    except httpx.HTTPError as error:
        return ServiceHealth("triton", url, None, error=f"no answer: {type(error).__name__}")
    ready = response.status_code == 200
    return ServiceHealth(
        "triton", url, ready, {"ready": ready}, None if ready else f"not ready ({response.status_code})"
    )
