"""The DEEPaaS v2 module: what ``deepaas-run`` serves and ``deepaas-cli`` calls.

DEEPaaS loads this module through the ``deepaas.v2.model`` entry point and calls its
functions: ``get_metadata``, ``get_predict_args`` (webargs fields, which become the
multipart form of ``POST /v2/models/plankton_classifier/predict/`` and the options of
``deepaas-cli predict``), ``warm`` once per worker process, and ``predict`` per request.
``schema`` makes the API answer with ``predict``'s dict as it is, checked against it:

    {"labels": ["copepod", "detritus", ...], "probabilities": [0.91, 0.04, ...]}

every class, most probable first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from marshmallow import fields as schema_fields
from webargs import fields, validate

from aquaflow_deepaas_plankton.classifier import (
    MODEL_NAME,
    PlanktonClassifier,
    UnreadableImage,
    decode,
    find_model_dir,
    threads_from_environment,
)

LOG = logging.getLogger(__name__)

# The multipart field (and deepaas-cli option) that carries the image.
IMAGE_ARG = "image"

schema = {
    "labels": schema_fields.List(schema_fields.Str(), required=True),
    "probabilities": schema_fields.List(schema_fields.Float(), required=True),
}

# One session per process: DEEPaaS runs each worker in a process of its own (spawned), and
# deepaas-cli runs one prediction per process, so it loads the model every time.
_classifier: PlanktonClassifier | None = None


class UnreadableUpload(web.HTTPBadRequest):
    """A 400 answer for an upload that is no readable image (the caller's fault, not the server's).

    DEEPaaS runs ``predict`` in a worker process and sends its exception back pickled;
    aiohttp's own HTTP exceptions do not survive that round trip, this one does.
    """

    def __init__(self, why: str) -> None:
        super().__init__(reason=why[:200], text=why)
        self.why = why

    def __reduce__(self) -> tuple[type[UnreadableUpload], tuple[str]]:
        return (UnreadableUpload, (self.why,))


def _model() -> PlanktonClassifier:
    global _classifier  # noqa: PLW0603 - the process's one session, loaded on first use
    if _classifier is None:
        _classifier = PlanktonClassifier(find_model_dir(), threads_from_environment())
        LOG.info("loaded %s version %s", MODEL_NAME, _classifier.version)
    return _classifier


def get_metadata() -> dict[str, Any]:
    model = _model()
    return {
        "name": MODEL_NAME,
        "version": model.version,
        "summary": "Plankton and particle classes of grey vignettes (FlowCam particles, ZooScan regions)",
        "description": (
            "aquaflow's plankton classifier (ONNX, 64x64 grey input, pad-square preprocessing); "
            "predict answers every class with its probability, most probable first."
        ),
        "author": "aquaflow",
        "license": "Apache-2.0",
        "labels": list(model.labels),
    }


def warm() -> None:
    _model()


def get_predict_args() -> dict[str, Any]:
    return {
        # deepaas-cli treats exactly fields.Field with type "file" as a path to upload.
        IMAGE_ARG: fields.Field(
            required=True,
            metadata={"type": "file", "location": "form", "description": "The image to classify (PNG, JPEG, TIFF)."},
        ),
        "accept": fields.Str(
            load_default="application/json",
            metadata={"location": "headers", "description": "Media type of the answer."},
            validate=validate.OneOf(["application/json"]),
        ),
    }


def get_train_args() -> dict[str, Any]:
    # deepaas-cli reads the training arguments when it starts; this module is not trained here.
    return {}


def predict(**kwargs: Any) -> dict[str, list[Any]]:
    """One image in (an uploaded file, or a path), every class with its probability out."""
    upload = kwargs.get(IMAGE_ARG)
    if upload is None:
        raise ValueError(f"no {IMAGE_ARG!r} file given")
    # DEEPaaS (API and CLI) hands the module an UploadedFile naming a temporary copy, whose
    # removal it leaves to the module; a plain path is the caller's own file and stays.
    temporary = hasattr(upload, "filename")
    path = Path(os.fspath(upload.filename if temporary else upload))
    try:
        data = path.read_bytes()
    finally:
        if temporary:
            _remove_quietly(path)
    try:
        image = decode(data)
    except UnreadableImage as error:
        raise UnreadableUpload(str(error)) from error
    return _model().ranked(image)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        LOG.debug("temporary upload %s already gone", path)
