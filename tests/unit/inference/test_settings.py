"""Worker settings come from the environment with the AQUAFLOW_INFERENCE_ prefix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aquaflow_inference.settings import InferenceSettings


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MODEL", "fish_detector")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_TRITON_GRPC_URL", "triton:8001")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MAX_IN_FLIGHT", "64")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MAX_IMAGE_PIXELS", "1000000")
    monkeypatch.setenv("AQUAFLOW_S3_SECRET_ACCESS_KEY", "very-secret")
    settings = InferenceSettings()  # type: ignore[call-arg]
    assert (settings.model, settings.triton_grpc_url) == ("fish_detector", "triton:8001")
    assert (settings.max_in_flight, settings.max_image_pixels) == (64, 1_000_000)
    assert settings.segment_grey_threshold is None
    assert "very-secret" not in repr(settings)


def test_the_model_is_required_and_must_be_a_routing_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AQUAFLOW_INFERENCE_MODEL", raising=False)
    with pytest.raises(ValidationError, match="model"):
        InferenceSettings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        InferenceSettings(model="fish.detector#")


def test_output_bucket_and_s3_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MODEL", "plankton_classifier")
    assert InferenceSettings().output_bucket is None  # type: ignore[call-arg]  # unset: no crops written
    monkeypatch.setenv("AQUAFLOW_INFERENCE_OUTPUT_BUCKET", "aquaflow-crops")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_S3_CONNECT_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_S3_MAX_CONNECTIONS", "16")
    settings = InferenceSettings()  # type: ignore[call-arg]
    assert (settings.output_bucket, settings.s3_connect_timeout_seconds) == ("aquaflow-crops", 2.5)
    assert (settings.s3_read_timeout_seconds, settings.s3_max_connections) == (30.0, 16)
