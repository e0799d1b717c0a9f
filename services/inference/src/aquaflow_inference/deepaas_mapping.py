"""A DEEPaaS module's JSON answer → aquaflow's ``Classification`` or ``Detection``s. Pure.

DEEPaaS modules answer in shapes of their own: parallel lists of labels and probabilities,
a list of ``{"label", "probability"}`` objects, boxes as corners or as corner and size,
sometimes wrapped by DEEPaaS in ``{"status": "OK", "predictions": ...}``. The model's
declaration (``config/deepaas/<model>.yaml``, docs/model-contract.md "DEEPaaS") says where
things are with an ``AnswerMapping``; nothing about a module is written in code.

A path is dot-separated: keys of objects, and whole numbers as indexes into lists
(``predictions.0.labels``); the empty path is the answer itself.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from aquaflow_inference.errors import InferenceError
from aquaflow_inference.postprocess import TOP_K
from aquaflow_inference.spec import Task
from aquaflow_shared.contracts import BoundingBox, Classification, Detection, LabelScore
from aquaflow_shared.errors import PermanentError

# Scores are probabilities; a module's float32 arithmetic may overshoot 0..1 by this much.
SCORE_TOLERANCE = 1e-4

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]


class UnexpectedAnswer(InferenceError, PermanentError):
    """The module answered, but not in the shape its declaration says: dead-lettered with what was wrong."""

    code = "deepaas_bad_answer"


class AnswerMapping(BaseModel):
    """Where a module's answer keeps what aquaflow reads.

    Classification, either form:
      - ``labels`` and ``scores``: paths to two lists of the same length, in the same order;
      - ``items``: path to a list of objects, each with a ``label`` and a ``score`` field.
    Detection: ``items`` (path to the list of objects), and in each object the paths
    ``label``, ``score`` and ``box``. A box is four numbers in ``box_format`` order:
    ``xyxy`` (corners), ``xywh`` (top-left corner, width, height) or ``cxcywh`` (centre,
    width, height); either a list or an object whose four keys ``box_keys`` names in that
    order. ``normalized``: coordinates are fractions of the image's width and height.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: str | None = None
    scores: str | None = None
    items: str | None = None
    label: str = "label"
    score: str = "probability"
    box: str = "box"
    box_format: BoxFormat = "xyxy"
    box_keys: tuple[str, str, str, str] | None = None
    normalized: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> AnswerMapping:
        lists = self.labels is not None or self.scores is not None
        if lists and (self.labels is None or self.scores is None):
            raise ValueError("labels and scores go together: a path to each list")
        if lists == (self.items is not None):
            raise ValueError("give either labels and scores (parallel lists) or items (a list of objects)")
        return self

    def check_for(self, task: Task) -> None:
        """Refuse, at start-up, a mapping that cannot serve ``task``."""
        if task == "detection" and self.items is None:
            raise ValueError("a detection answer is mapped with items (a list of objects with label, score, box)")


def read_path(answer: Any, path: str, *, at: str = "") -> Any:
    """The value at ``path`` in ``answer``; a missing key or index is an ``UnexpectedAnswer``.

    ``at`` is where ``answer`` itself sits in the whole answer, for the error's message.
    """
    value = answer
    walked = at
    for part in path.split(".") if path else []:
        walked = _join(walked, part)
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise UnexpectedAnswer(f"no {walked!r} in the answer")
    return value


def to_classification(answer: Any, mapping: AnswerMapping, known_labels: tuple[str, ...] = ()) -> Classification:
    """The best class, the best ``TOP_K`` and every score the module gave.

    ``known_labels`` (the model's declared classes), when given, must hold every label, and
    orders the score vector as Triton's models do; otherwise the answer's order is kept.
    """
    pairs = _label_scores(answer, mapping)
    if not pairs:
        raise UnexpectedAnswer("the answer has no class")
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise UnexpectedAnswer(f"a class appears twice in the answer: {labels}")
    unknown = sorted(set(labels) - set(known_labels)) if known_labels else []
    if unknown:
        raise UnexpectedAnswer(f"classes {unknown} are not among the model's labels {list(known_labels)}")
    ranked = sorted(pairs, key=lambda pair: -pair[1])  # stable: ties keep the module's order
    scores = dict(pairs)
    order = [label for label in known_labels if label in scores] if known_labels else labels
    return Classification(
        label=ranked[0][0],
        score=ranked[0][1],
        top=[LabelScore(label=label, score=score) for label, score in ranked[:TOP_K]],
        scores={label: scores[label] for label in order},
    )


def to_detections(
    answer: Any, mapping: AnswerMapping, width: int, height: int, known_labels: tuple[str, ...] = ()
) -> list[Detection]:
    """The objects found, best first, boxes in the image's pixels and clipped to it.

    A box that is empty once clipped (outside the image, or of no area) is left out; a
    malformed one (not four finite numbers) makes the whole answer unexpected.
    """
    if mapping.items is None:
        raise UnexpectedAnswer("a detection answer needs the items path")
    items = _as_list(read_path(answer, mapping.items), mapping.items)
    found: list[Detection] = []
    for index, item in enumerate(items):
        where = _join(mapping.items, index)
        label = _label(read_path(item, mapping.label, at=where), _join(where, mapping.label))
        if known_labels and label not in known_labels:
            raise UnexpectedAnswer(f"class {label!r} at {where} is not among the model's labels {list(known_labels)}")
        score = _score(read_path(item, mapping.score, at=where), _join(where, mapping.score))
        box = _pixel_box(read_path(item, mapping.box, at=where), mapping, width, height, _join(where, mapping.box))
        if box is not None:
            found.append(Detection(label=label, score=score, box=box))
    return sorted(found, key=lambda d: -d.score)


def _label_scores(answer: Any, mapping: AnswerMapping) -> list[tuple[str, float]]:
    if mapping.labels is not None and mapping.scores is not None:
        labels = _as_list(read_path(answer, mapping.labels), mapping.labels)
        scores = _as_list(read_path(answer, mapping.scores), mapping.scores)
        if len(labels) != len(scores):
            raise UnexpectedAnswer(
                f"{len(labels)} labels at {mapping.labels!r} but {len(scores)} scores at {mapping.scores!r}"
            )
        return [
            (_label(label, _join(mapping.labels, i)), _score(score, _join(mapping.scores, i)))
            for i, (label, score) in enumerate(zip(labels, scores, strict=True))
        ]
    assert mapping.items is not None  # one form or the other, checked when the mapping was read
    items = _as_list(read_path(answer, mapping.items), mapping.items)
    pairs = []
    for i, item in enumerate(items):
        where = _join(mapping.items, i)
        label = _label(read_path(item, mapping.label, at=where), _join(where, mapping.label))
        pairs.append((label, _score(read_path(item, mapping.score, at=where), _join(where, mapping.score))))
    return pairs


def _join(path: str, part: str | int) -> str:
    return f"{path}.{part}" if path else str(part)


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnexpectedAnswer(f"{where!r} is {type(value).__name__}, not a list")
    return value


def _label(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise UnexpectedAnswer(f"{where!r} is {value!r}, not a class name")
    return str(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnexpectedAnswer(f"{where!r} is {value!r}, not a finite number")
    return float(value)


def _score(value: Any, where: str) -> float:
    score = _number(value, where)
    if not -SCORE_TOLERANCE <= score <= 1.0 + SCORE_TOLERANCE:
        raise UnexpectedAnswer(f"{where!r} is {score}, not a probability between 0 and 1")
    return min(max(score, 0.0), 1.0)


def _pixel_box(value: Any, mapping: AnswerMapping, width: int, height: int, where: str) -> BoundingBox | None:
    if mapping.box_keys is not None:
        if not isinstance(value, dict):
            raise UnexpectedAnswer(f"{where!r} is {type(value).__name__}, not an object with {list(mapping.box_keys)}")
        value = [read_path(value, key, at=where) for key in mapping.box_keys]
    if not isinstance(value, list) or len(value) != 4:
        raise UnexpectedAnswer(f"{where!r} is {value!r}, not four numbers ({mapping.box_format})")
    a, b, c, d = (_number(v, f"{where}.{i}") for i, v in enumerate(value))
    if mapping.box_format == "xywh":
        c, d = a + c, b + d
    elif mapping.box_format == "cxcywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if mapping.normalized:
        a, b, c, d = a * width, b * height, c * width, d * height
    x_min, x_max = sorted((min(max(a, 0.0), width), min(max(c, 0.0), width)))
    y_min, y_max = sorted((min(max(b, 0.0), height), min(max(d, 0.0), height)))
    if x_max <= x_min or y_max <= y_min:
        return None
    return BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)
