"""How far the plankton classifier's confidence can be trusted on real images, and the threshold that follows.

    python -m training.calibration [--target-precision 0.9] [--folder data/ecotaxa-qa]

Runs the shipped ONNX model on the distinct labelled real images of EcoTaxa's QA data (`training/ecotaxa_qa.py`:
categories mapped onto the model's classes; a category with no counterpart is `other`, and any label given to it
is wrong), measures accuracy, expected calibration error (ECE) and the reliability of each confidence bin, and
chooses the confidence threshold below which results leaves an object `unclassified`:

    the lowest threshold at which the labels kept (score >= threshold) reach the target precision, and keep
    reaching it at every higher threshold; when no measured threshold does, the threshold goes just above the
    most confident wrong answer, so that nothing seen wrong is kept.

Writes, beside the model: `thresholds.json` (read by the results service), `calibration.json` (every figure and
every image's scores), `reliability.png`, and the "Real images" section of `MODEL.md`. The same figures on
generated held-out images are measured for comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from training import ecotaxa_qa, gen_plankton
from training.arrays import Array
from training.cards import write_section
from training.export import onnx_session, run_batched
from training.preprocess import classifier_input
from training.repository import REPOSITORY

MODEL = "plankton_classifier"
FOLDER = REPOSITORY / MODEL
DATA = REPOSITORY.parent / "data" / "ecotaxa-qa"
TARGET_PRECISION = 0.9
BINS = 10
# Generated held-out images for comparison: the training run's held-out seed.
GENERATED_SEED = 1000
GENERATED_COUNT = 1000
SECTION = "## Real images (EcoTaxa QA)"


# --- pure measures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bin:
    lower: float
    upper: float
    count: int
    confidence: float  # mean confidence of the bin (nan when empty)
    accuracy: float  # share right in the bin (nan when empty)


def reliability_bins(confidence: Array, correct: Array, bins: int = BINS) -> list[Bin]:
    """Equal-width confidence bins; the last one includes 1.0."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        members = index == b
        n = int(members.sum())
        out.append(
            Bin(
                float(edges[b]),
                float(edges[b + 1]),
                n,
                float(confidence[members].mean()) if n else math.nan,
                float(correct[members].mean()) if n else math.nan,
            )
        )
    return out


def expected_calibration_error(bins: list[Bin]) -> float:
    """Σ (n_b / N) |accuracy_b − confidence_b|: how far stated confidence is from the share right."""
    total = sum(b.count for b in bins)
    if total == 0:
        return math.nan
    return sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins if b.count)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (honest at the small counts measured here)."""
    if trials == 0:
        return (math.nan, math.nan)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    kept: int
    total: int
    right: int

    @property
    def coverage(self) -> float:
        return self.kept / self.total if self.total else math.nan

    @property
    def precision(self) -> float:
        return self.right / self.kept if self.kept else math.nan


def operating_point(confidence: Array, correct: Array, threshold: float) -> OperatingPoint:
    kept = confidence >= threshold
    return OperatingPoint(threshold, int(kept.sum()), len(confidence), int(correct[kept].sum()))


def choose_threshold(confidence: Array, correct: Array, target: float) -> OperatingPoint:
    """The lowest threshold whose kept labels reach ``target`` precision at it and at every higher threshold.

    Candidates are the measured confidences themselves. When none qualifies (the most confident answer is
    wrong), the threshold goes just above the most confident wrong answer, rounded up to 0.01.
    """
    candidates = sorted({float(c) for c in confidence}, reverse=True)
    chosen: float | None = None
    for threshold in candidates:  # from the top down: stop at the first one that falls below the target
        if operating_point(confidence, correct, threshold).precision < target:
            break
        chosen = threshold
    if chosen is None:
        wrong = confidence[~correct.astype(bool)]
        chosen = min(1.0, math.floor(float(wrong.max()) * 100 + 1) / 100) if len(wrong) else 0.0
    return operating_point(confidence, correct, chosen)


# --- the model on real and generated images -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One distinct real image through the model."""

    digest: str
    path: str  # the first copy, relative to the data folder
    rows: int  # labelled table rows naming this picture, in any of its copies
    categories: dict[str, int]
    category: str
    target: str
    predicted: str
    confidence: float
    probabilities: list[float]

    @property
    def correct(self) -> bool:
        return self.predicted == self.target


def model_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score_real(labelled: ecotaxa_qa.LabelledSet, labels: list[str], folder: Path) -> list[Scored]:
    session = onnx_session(FOLDER / "1" / "model.onnx")
    inputs = np.stack([classifier_input(image.image) for image in labelled.images])
    probabilities = run_batched(session, inputs)
    scored = []
    for image, row in zip(labelled.images, probabilities, strict=True):
        top = int(np.argmax(row))
        scored.append(
            Scored(
                digest=image.digest,
                path=str(image.paths[0].relative_to(folder)),
                rows=sum(image.categories.values()),
                categories=dict(sorted(image.categories.items())),
                category=image.category,
                target=image.target,
                predicted=labels[top],
                confidence=round(float(row[top]), 6),
                probabilities=[round(float(p), 6) for p in row],
            )
        )
    return scored


def score_generated(count: int = GENERATED_COUNT, seed: int = GENERATED_SEED) -> tuple[Array, Array]:
    """Top-1 confidence and correctness on generated held-out vignettes (the training run's held-out seed)."""
    rng = np.random.default_rng(seed)
    samples = [gen_plankton.sample(rng) for _ in range(count)]
    inputs = np.stack([classifier_input(image) for image, _ in samples])
    truth = np.array([label for _, label in samples])
    probabilities = run_batched(onnx_session(FOLDER / "1" / "model.onnx"), inputs)
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == truth


# --- outputs -------------------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def reliability_png(panels: list[tuple[str, list[Bin]]], threshold: float, path: Path) -> None:
    """Reliability diagrams side by side: share right per confidence bin (bars) against the diagonal,
    and the chosen threshold (green)."""
    size, margin = 420, 50
    image = Image.new("RGB", (len(panels) * size + margin, size + margin), "white")
    draw = ImageDraw.Draw(image)
    for panel, (title, bins) in enumerate(panels):
        x0, y0 = margin + panel * size, margin
        plot = size - margin
        draw.rectangle((x0, y0, x0 + plot, y0 + plot), outline="black")
        draw.line((x0, y0 + plot, x0 + plot, y0), fill=(160, 160, 160))  # perfect calibration
        width = plot / len(bins)
        for i, b in enumerate(bins):
            if not b.count:
                continue
            left = x0 + i * width
            draw.rectangle(
                (left + 2, y0 + plot * (1 - b.accuracy), left + width - 2, y0 + plot),
                fill=(70, 110, 190),
                outline="black",
            )
            mark = y0 + plot * (1 - b.confidence)
            draw.line((left + 2, mark, left + width - 2, mark), fill=(200, 40, 40), width=2)
            draw.text((left + 3, y0 + plot - 12), str(b.count), fill="white" if b.accuracy > 0.05 else "black")
        draw.line((x0 + plot * threshold, y0, x0 + plot * threshold, y0 + plot), fill=(30, 150, 60), width=2)
        draw.text((x0 + 4, y0 + 4), f"green: chosen threshold {threshold:.2f}", fill=(30, 150, 60))
        draw.text((x0, y0 - 30), title, fill="black")
        draw.text((x0, y0 - 16), "bars: share right; red: mean confidence; numbers: images", fill="black")
        for tick in (0.0, 0.5, 1.0):
            draw.text((x0 + plot * tick - 6, y0 + plot + 4), f"{tick:.1f}", fill="black")
            draw.text((x0 - 24, y0 + plot * (1 - tick) - 6), f"{tick:.1f}", fill="black")
        draw.text((x0 + plot / 2 - 30, y0 + plot + 18), "confidence", fill="black")
    image.save(path)


@dataclass(frozen=True)
class Calibration:
    model_sha256: str
    target_precision: float
    images: int
    files: int
    undecodable: int
    conflicting: int
    accuracy_all: float  # over every distinct image ("other" counts as wrong)
    accuracy_mapped: float  # over images whose category has a counterpart
    mapped: int
    ece: float
    chosen: OperatingPoint
    precision_interval: tuple[float, float]
    at_default: OperatingPoint  # results' default threshold, 0.5
    file_accuracy: float  # over every labelled row, copies counted (how the data looks undeduplicated)
    confidence_right: float
    confidence_wrong: float
    generated_accuracy: float
    generated_ece: float
    generated_confidence_right: float
    generated_confidence_wrong: float
    generated_at_default: OperatingPoint
    generated_at_chosen: OperatingPoint


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def card_section(c: Calibration, scored: list[Scored], labels: list[str]) -> str:
    point = c.chosen
    if point.kept:
        low, high = c.precision_interval
        kept = (
            f"{point.kept} of {point.total} real pictures kept, {point.right} of them right "
            f"(95% interval of the precision {low:.2f}-{high:.2f})"
        )
    else:
        kept = f"none of the {point.total} real pictures is kept: every one goes to a person"
    lines = [
        "Measured by `python -m training.calibration` on the labelled real vignettes of `data/ecotaxa-qa/` "
        f"(model sha256 `{c.model_sha256[:12]}`). The QA tables have {c.files} labelled rows naming an existing "
        f"image file, but these are copies of **{c.images} distinct pictures** (identical bytes; "
        f"{_plural(c.undecodable, 'more labelled file is', 'more labelled files are')} corrupt on purpose), and "
        f"the copies of {_plural(c.conflicting, 'picture', 'pictures')} disagree on the class. Each picture counts "
        "once, with the category most of its rows carry. EcoTaxa categories map onto the classes by the table in "
        "`training/ecotaxa_qa.py`; categories with no counterpart are `other`, and any label given to them is "
        "wrong. With so few pictures every figure below is indicative only.",
        "",
        "| measure | real pictures | generated held-out |",
        "|---|---|---|",
        f"| images | {c.images} ({c.mapped} with a counterpart class) | {GENERATED_COUNT} |",
        f"| top-1 accuracy, all images | {_fmt(c.accuracy_all)} | {_fmt(c.generated_accuracy)} |",
        f"| top-1 accuracy, images with a counterpart | {_fmt(c.accuracy_mapped)} | {_fmt(c.generated_accuracy)} |",
        f"| mean confidence when right / when wrong | {_fmt(c.confidence_right)} / {_fmt(c.confidence_wrong)} | "
        f"{_fmt(c.generated_confidence_right)} / {_fmt(c.generated_confidence_wrong)} |",
        f"| expected calibration error (10 bins) | {_fmt(c.ece)} | {_fmt(c.generated_ece)} |",
        f"| kept at results' former default 0.5: coverage / precision | {_fmt(c.at_default.coverage)} / "
        f"{_fmt(c.at_default.precision)} | {_fmt(c.generated_at_default.coverage)} / "
        f"{_fmt(c.generated_at_default.precision)} |",
        f"| kept at the chosen threshold {point.threshold:.2f}: coverage / precision | {_fmt(point.coverage)} / "
        f"{_fmt(point.precision)} | {_fmt(c.generated_at_chosen.coverage)} / "
        f"{_fmt(c.generated_at_chosen.precision)} |",
        "",
        f"Accuracy over the {c.files} labelled rows, copies counted as the QA folders hold them: "
        f"{_fmt(c.file_accuracy)}.",
        "",
        f"**Default threshold: {point.threshold:.2f}** for every class (target precision of kept labels "
        f"{c.target_precision:.2f}; {kept}). Below it results stores the object as `unclassified`, its top class "
        "and score kept for the person who sorts it. Written to `thresholds.json`, which the results service "
        "reads. One threshold for all classes: per-class thresholds cannot be estimated from this few pictures.",
        "",
        "| picture | labelled rows | categories (rows) | class | predicted | confidence |",
        "|---|---|---|---|---|---|",
    ]
    for s in sorted(scored, key=lambda s: -s.confidence):
        cats = ", ".join(f"{k} ({v})" for k, v in s.categories.items())
        mark = "right" if s.correct else "wrong"
        lines.append(
            f"| `{Path(s.path).name}` | {s.rows} | {cats} | {s.target} | {s.predicted} ({mark}) | {s.confidence:.3f} |"
        )
    lines += [
        "",
        "Per class (real pictures):",
        "",
        "| class | pictures | right | predicted as it |",
        "|---|---|---|---|",
    ]
    for label in [*labels, ecotaxa_qa.OTHER]:
        members = [s for s in scored if s.target == label]
        predicted_as = sum(1 for s in scored if s.predicted == label)
        if members or predicted_as:
            lines.append(f"| {label} | {len(members)} | {sum(s.correct for s in members)} | {predicted_as} |")
    lines += [
        "",
        "Reliability diagram: `reliability.png`; every picture's scores: `calibration.json`. The classifier was "
        "not retrained on these pictures: too few to train and still measure on honestly.",
    ]
    return "\n".join(lines)


def _mean(values: Array) -> float:
    return float(values.mean()) if len(values) else math.nan


def measure(target_precision: float, folder: Path = DATA) -> tuple[Calibration, list[Scored], list[Bin], list[Bin]]:
    labels = (FOLDER / "labels.txt").read_text().split()
    labelled = ecotaxa_qa.load(folder)
    if not labelled.images:
        raise SystemExit(f"no labelled real images under {folder}")
    scored = score_real(labelled, labels, folder)
    confidence = np.array([s.confidence for s in scored])
    correct = np.array([s.correct for s in scored], dtype=bool)
    bins = reliability_bins(confidence, correct)
    chosen = choose_threshold(confidence, correct, target_precision)
    mapped = [s for s in scored if s.target != ecotaxa_qa.OTHER]
    by_digest = {s.digest: s for s in scored}
    digest_of = {p: img.digest for img in labelled.images for p in img.paths}
    file_hits = [
        by_digest[digest_of[f.path]].predicted == ecotaxa_qa.target_class(f.category)
        for f in labelled.files
        if f.path in digest_of
    ]
    gen_conf, gen_correct = score_generated()
    gen_bins = reliability_bins(gen_conf, gen_correct)
    calibration = Calibration(
        model_sha256=model_digest(FOLDER / "1" / "model.onnx"),
        target_precision=target_precision,
        images=len(scored),
        files=len(labelled.files),
        undecodable=len(labelled.undecodable),
        conflicting=sum(img.conflicting for img in labelled.images),
        accuracy_all=float(correct.mean()),
        accuracy_mapped=float(np.mean([s.correct for s in mapped])) if mapped else math.nan,
        mapped=len(mapped),
        ece=expected_calibration_error(bins),
        chosen=chosen,
        precision_interval=wilson_interval(chosen.right, chosen.kept),
        at_default=operating_point(confidence, correct, 0.5),
        file_accuracy=float(np.mean(file_hits)) if file_hits else math.nan,
        confidence_right=_mean(confidence[correct]),
        confidence_wrong=_mean(confidence[~correct]),
        generated_accuracy=float(gen_correct.mean()),
        generated_ece=expected_calibration_error(gen_bins),
        generated_confidence_right=_mean(gen_conf[gen_correct]),
        generated_confidence_wrong=_mean(gen_conf[~gen_correct]),
        generated_at_default=operating_point(gen_conf, gen_correct, 0.5),
        generated_at_chosen=operating_point(gen_conf, gen_correct, chosen.threshold),
    )
    return calibration, scored, bins, gen_bins


def _point(p: OperatingPoint) -> dict[str, Any]:
    return {**asdict(p), "coverage": p.coverage, "precision": p.precision}


def thresholds_document(c: Calibration) -> dict[str, Any]:
    """`thresholds.json`: keys as results' `confidence_thresholds` ("<model>" or "<model>/<class>")."""
    return {
        "model": MODEL,
        "model_sha256": c.model_sha256,
        "thresholds": {MODEL: c.chosen.threshold},
        "target_precision": c.target_precision,
        "measured_on": f"{c.images} distinct labelled real pictures of data/ecotaxa-qa",
        "coverage": c.chosen.coverage,
        "precision": None if math.isnan(c.chosen.precision) else c.chosen.precision,
        "written_by": "python -m training.calibration",
    }


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write(c: Calibration, scored: list[Scored], bins: list[Bin], gen_bins: list[Bin]) -> None:
    labels = (FOLDER / "labels.txt").read_text().split()
    (FOLDER / "thresholds.json").write_text(json.dumps(_clean(thresholds_document(c)), indent=2) + "\n")
    record = {
        **asdict(c),
        **{name: _point(getattr(c, name)) for name in ("chosen", "at_default", "generated_at_default")},
        "generated_at_chosen": _point(c.generated_at_chosen),
        "labels": labels,
        "reliability": [asdict(b) for b in bins],
        "generated_reliability": [asdict(b) for b in gen_bins],
        "category_to_class": ecotaxa_qa.CATEGORY_TO_CLASS,
        "pictures": [{**asdict(s), "correct": s.correct} for s in scored],
        "predicted": dict(Counter(s.predicted for s in scored)),
    }
    (FOLDER / "calibration.json").write_text(json.dumps(_clean(record), indent=2) + "\n")
    panels = [
        (f"real pictures (EcoTaxa QA): {c.images}, ECE {_fmt(c.ece)}", bins),
        (f"generated held-out: {GENERATED_COUNT}, ECE {_fmt(c.generated_ece)}", gen_bins),
    ]
    reliability_png(panels, c.chosen.threshold, FOLDER / "reliability.png")
    write_section(FOLDER / "MODEL.md", SECTION, card_section(c, scored, labels))


def main(target_precision: float = TARGET_PRECISION, folder: Path = DATA) -> Calibration:
    calibration, scored, bins, gen_bins = measure(target_precision, folder)
    write(calibration, scored, bins, gen_bins)
    c, p = calibration, calibration.chosen
    print(f"{MODEL} on {c.images} distinct labelled real pictures ({c.files} labelled rows):")
    print(
        f"  accuracy {c.accuracy_all:.3f} (images with a counterpart class: {c.accuracy_mapped:.3f}), ECE {c.ece:.3f}"
    )
    print(f"  at 0.5: coverage {_fmt(c.at_default.coverage)}, precision {_fmt(c.at_default.precision)}")
    print(f"  chosen threshold {p.threshold:.2f}: coverage {_fmt(p.coverage)}, precision {_fmt(p.precision)}")
    print(f"  generated held-out: accuracy {c.generated_accuracy:.3f}, ECE {c.generated_ece:.3f}")
    return calibration


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-precision", type=float, default=TARGET_PRECISION)
    parser.add_argument("--folder", type=Path, default=DATA)
    arguments = parser.parse_args()
    main(arguments.target_precision, arguments.folder)
