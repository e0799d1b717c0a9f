"""Which model version a request runs, what happens when a version goes away, and what is measured."""

from __future__ import annotations

import pytest
from PIL import Image
from prometheus_client import CollectorRegistry

from aquaflow_inference.deps import Deps, MeasuredModel, Probes, measured_versions
from aquaflow_inference.errors import UnknownModel
from aquaflow_inference.metrics import InferenceMetrics
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.service import one_version
from aquaflow_inference.triton_client import VersionNotServed
from aquaflow_inference.triton_image_model import TritonImageModel
from tests.unit.inference.support import REPOSITORY, OnnxTensorModel, repository_model, repository_spec

PLANKTON = "plankton_classifier"
PARTICLE = Image.new("L", (40, 30), 200)


class RollingOut(OnnxTensorModel):
    """Versions 1 and 2 served; setting ``served`` loads or unloads some, as Triton does in a rollout.

    Triton's own answer to a call naming an unloaded version is ``VersionNotServed``
    (tests/unit/inference/test_triton_client.py, from its NOT_FOUND status).
    """

    def __init__(self) -> None:
        onnx = REPOSITORY / PLANKTON / "1" / "model.onnx"
        super().__init__(repository_spec(PLANKTON), {"1": onnx, "2": onnx, "3": onnx})
        self.served = ("1", "2")
        self.versions = self.served

    async def refresh_versions(self) -> tuple[str, ...]:
        self.versions = self.served
        return self.versions

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        if version not in self.served:
            raise VersionNotServed(f"Request for unknown model: '{PLANKTON}' version {version} is not found")
        return await super().infer(batch, version)


async def test_a_pinned_model_runs_its_version_and_the_default_is_the_newest() -> None:
    tensors = RollingOut()
    model = TritonImageModel(tensors)
    first, default = await model.version("1"), await model.version(None)
    await first.classify([PARTICLE])
    await default.classify([PARTICLE])
    assert (first.info.version, default.info.version, model.info.version) == ("1", "2", "2")
    assert tensors.calls == [("1", 1), ("2", 1)]
    tensors.served = ("1", "2", "3")  # a newer version loaded: the next request's default
    assert (await model.version(None)).info.version == "3"


async def test_a_version_triton_does_not_serve_is_asked_for_again_then_refused() -> None:
    tensors = RollingOut()
    model = TritonImageModel(tensors)
    tensors.served = ("1", "2", "3")  # loaded since the versions were last read
    assert (await model.version("3")).info.version == "3"
    with pytest.raises(UnknownModel, match=r"version '9' is not served; Triton serves \['1', '2', '3'\]"):
        await model.version("9")


async def test_a_pinned_version_unloaded_in_flight_is_the_requests_fault_the_default_is_not() -> None:
    tensors = RollingOut()
    model = TritonImageModel(tensors)
    asked, default = await model.version("1"), await model.version(None)
    tensors.served = ("2", "3")  # 3 rolled out, 1 unloaded
    with pytest.raises(UnknownModel, match=r"version '1' is no longer served; Triton serves \['2', '3'\]"):
        await asked.classify([PARTICLE])
    tensors.served = ("3",)
    # The default moved on: a transient failure; the retried message runs the new default.
    with pytest.raises(VersionNotServed):
        await default.classify([PARTICLE])
    retried = await model.version(None)
    await retried.classify([PARTICLE])
    assert (retried.info.version, tensors.calls[-1]) == ("3", ("3", 1))


async def test_a_backend_serving_one_version_refuses_any_other() -> None:
    model, _ = repository_model(PLANKTON)
    choose = one_version(model)
    assert await choose(None) is model
    assert await choose("1") is model
    with pytest.raises(UnknownModel, match="plankton_classifier version '2' is not served; this worker serves '1'"):
        await choose("2")


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_every_model_a_request_runs_is_measured() -> None:
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    model, _ = repository_model(PLANKTON)

    async def served() -> bool:
        return True

    deps = Deps(reader=None, writer=None, model=model, probes=Probes(triton=served, s3=served))  # type: ignore[arg-type]
    pinned = await measured_versions(deps, metrics)("1")
    assert isinstance(pinned, MeasuredModel)
    assert len(await pinned.classify([PARTICLE, PARTICLE, PARTICLE])) == 3
    assert await pinned.classify([]) == []  # nothing sent, nothing measured
    assert sample(registry, "aquaflow_inference_rows_per_call_count") == 1
    assert sample(registry, "aquaflow_inference_rows_per_call_sum") == 3
    assert sample(registry, "aquaflow_inference_triton_seconds_count") == 1
    with pytest.raises(UnknownModel):
        await measured_versions(deps, metrics)("4")
    detector = MeasuredModel(repository_model("fish_detector")[0], metrics)
    await detector.detect(Image.new("RGB", (64, 48)))
    assert sample(registry, "aquaflow_inference_rows_per_call_sum") == 4
    assert sample(registry, "aquaflow_inference_triton_seconds_count") == 2
