"""The ImageModel of a model served by a DEEPaaS module (model_port.py), and its declaration.

A model served by DEEPaaS is declared in a file, ``config/deepaas/<model>.yaml``: where
the API is, the module's name, the task, the labels, how many requests the server takes
at once, and how its answer maps onto aquaflow's (``AnswerMapping``). docs/model-contract.md,
"DEEPaaS", describes the file.

Each image goes to the module as a lossless PNG of exactly the pixels the pipeline holds
(a region's crop, a tile, a whole frame), one request per image: DEEPaaS does not batch.
A detection module's boxes are therefore in the pixels of the image sent.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aquaflow_inference.deepaas_client import DeepaasClient
from aquaflow_inference.deepaas_mapping import AnswerMapping, UnexpectedAnswer, to_classification, to_detections
from aquaflow_inference.errors import InvalidModelConfig, ProfileMismatch, UnknownModel
from aquaflow_inference.model_port import ModelInfo
from aquaflow_inference.spec import Task
from aquaflow_shared.contracts import Classification, Detection

# PNG holds these modes as they are; any other is sent as RGB (what a viewer shows).
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})
# How much of an answer an error quotes.
EXCERPT = 300


class DeepaasModelConfig(BaseModel):
    """``config/deepaas/<model>.yaml``: one model served by a DEEPaaS module."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    module: str = Field(min_length=1)  # the name in /v2/models/<module>/predict/
    endpoint: str = "http://127.0.0.1:5000"  # the DEEPaaS API; AQUAFLOW_INFERENCE_DEEPAAS_URL overrides it
    version: str = "1"  # what results record as the model version
    task: Task
    labels: tuple[str, ...] = ()  # the module's classes; when given, every answer is checked against them
    tile_size: int | None = Field(default=None, ge=1)  # a tile classifier (litter profile)
    file_field: str = "image"  # the module's file argument (get_predict_args)
    form: dict[str, str] = Field(default_factory=dict)  # other predict arguments, sent with every image
    concurrency: int = Field(default=1, ge=1)  # requests at once: the server's --workers
    timeout_seconds: float = Field(default=60.0, gt=0)  # one request, from when it is sent
    answer: AnswerMapping

    @model_validator(mode="after")
    def _mapping_fits_task(self) -> DeepaasModelConfig:
        self.answer.check_for(self.task)
        return self


def load_deepaas_config(directory: Path, model: str) -> DeepaasModelConfig:
    """Read ``<directory>/<model>.yaml``; a missing or invalid file stops the worker at start-up."""
    path = directory / f"{model}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DeepaasModelConfig.model_validate(raw)
    except OSError as error:
        raise InvalidModelConfig(f"{model}: no DEEPaaS declaration at {path}: {error}") from error
    except (yaml.YAMLError, ValidationError) as error:
        raise InvalidModelConfig(f"{model}: {path} is not a valid DEEPaaS declaration: {error}") from error


def png_bytes(image: Image.Image) -> bytes:
    """The image's pixels, losslessly; fast compression, since the file only crosses a socket."""
    if image.mode not in PNG_MODES:
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class DeepaasImageModel:
    """One model, one DEEPaaS module: images in, aquaflow's classifications or detections out."""

    def __init__(self, name: str, config: DeepaasModelConfig, client: DeepaasClient) -> None:
        self._name = name
        self._config = config
        self._client = client

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self._name,
            version=self._config.version,
            task=self._config.task,
            labels=self._config.labels,
            tile_size=self._config.tile_size,
            backend="deepaas",
        )

    @property
    def client(self) -> DeepaasClient:
        return self._client

    async def version(self, wanted: str | None) -> DeepaasImageModel:
        """A module serves one version: the declared one. Another is the request's error."""
        if wanted is not None and wanted != self._config.version:
            raise UnknownModel(
                f"{self._name} version {wanted!r} is not served; DEEPaaS module "
                f"{self._config.module!r} serves version {self._config.version!r}"
            )
        return self

    async def ready(self) -> bool:
        """Whether the DEEPaaS API answers and serves the module: the outage probe."""
        return await self._client.serves_module()

    async def classify(self, images: Sequence[Image.Image]) -> list[Classification]:
        self._require("classification")
        tasks = [asyncio.ensure_future(self._classify_one(image)) for image in images]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # One failure settles the message: the other images' requests would only load the server.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def detect(self, image: Image.Image) -> list[Detection]:
        self._require("detection")
        answer = await self._ask(image)
        try:
            return to_detections(answer, self._config.answer, image.width, image.height, self._config.labels)
        except UnexpectedAnswer as bad:
            raise self._unexpected(bad, answer) from bad

    async def _classify_one(self, image: Image.Image) -> Classification:
        answer = await self._ask(image)
        try:
            return to_classification(answer, self._config.answer, self._config.labels)
        except UnexpectedAnswer as bad:
            raise self._unexpected(bad, answer) from bad

    async def _ask(self, image: Image.Image) -> Any:
        payload = await asyncio.to_thread(png_bytes, image)
        return await self._client.predict(payload, filename="image.png", content_type="image/png")

    def _require(self, task: Task) -> None:
        if self._config.task != task:
            raise ProfileMismatch(f"{self._name} is a {self._config.task} model (DEEPaaS), asked for {task}")

    def _unexpected(self, bad: UnexpectedAnswer, answer: Any) -> UnexpectedAnswer:
        quoted = repr(answer)
        quoted = quoted[:EXCERPT] + ("…" if len(quoted) > EXCERPT else "")
        return UnexpectedAnswer(
            f"DEEPaaS module {self._config.module!r} answered in a shape its declaration does not map: "
            f"{bad.reason}; answer: {quoted}"
        )


def deepaas_image_model(
    model: str,
    config_dir: Path,
    *,
    url: str | None = None,
    concurrency: int | None = None,
    probe_timeout_seconds: float = 5.0,
) -> DeepaasImageModel:
    """The model as its declaration says, with the deployment's URL and concurrency where given."""
    config = load_deepaas_config(config_dir, model)
    client = DeepaasClient(
        url or config.endpoint,
        config.module,
        concurrency=concurrency or config.concurrency,
        timeout_seconds=config.timeout_seconds,
        probe_timeout_seconds=probe_timeout_seconds,
        file_field=config.file_field,
        form=config.form,
    )
    return DeepaasImageModel(model, config, client)
