"""Run every decodable real image in the EcoTaxa QA data through the classifier's preprocessing and the
exported plankton classifier (ONNX Runtime); print the predicted class distribution and report the
files that cannot be decoded.

    python -m training.check_real_images [FOLDER]

FOLDER defaults to the repository's `data/ecotaxa-qa`. Exit status 1 when an image
that decodes fails in preprocessing or inference, or when no image was found. How often the
labelled ones are right, and how far the scores can be trusted: `python -m training.calibration`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from training.ecotaxa_qa import IMAGE_SUFFIXES, decode
from training.export import onnx_session
from training.preprocess import classifier_input
from training.repository import REPOSITORY

DEFAULT_FOLDER = REPOSITORY.parent / "data" / "ecotaxa-qa"
MODEL = REPOSITORY / "plankton_classifier"


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def main(folder: Path) -> int:
    labels = (MODEL / "labels.txt").read_text().split()
    session = onnx_session(MODEL / "1" / "model.onnx")
    paths = image_files(folder)
    counts: Counter[str] = Counter()
    corrupt: list[tuple[Path, str]] = []
    failed: list[tuple[Path, str]] = []
    for path in paths:
        try:
            image = decode(path)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            corrupt.append((path, f"{type(error).__name__}: {error}"))
            continue
        try:
            tensor = classifier_input(image)[None]
            (probabilities,) = session.run(None, {"images": tensor})
            if probabilities.shape != (1, len(labels)) or not np.isclose(probabilities.sum(), 1.0, atol=1e-3):
                raise ValueError(f"unexpected output {probabilities.shape}, sum {probabilities.sum():.4f}")
            counts[labels[int(np.argmax(probabilities))]] += 1
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the run fails
            failed.append((path, f"{type(error).__name__}: {error}"))
    decoded = sum(counts.values())
    print(
        f"{len(paths)} image files under {folder}: {decoded} classified, {len(corrupt)} corrupt, {len(failed)} failed"
    )
    for label in labels:
        print(f"  {label:14s} {counts[label]:4d}")
    for path, reason in corrupt:
        print(f"corrupt (not decodable): {path.relative_to(folder)}: {reason}")
    for path, reason in failed:
        print(f"FAILED: {path.relative_to(folder)}: {reason}")
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    sys.exit(main(parser.parse_args().folder))
