"""Train the plankton classifier on generated vignettes, export it and rewrite its model card.

python -m training.train_classifier            # the full run (a few minutes on 2 CPUs)
python -m training.train_classifier --quick    # a short smoke run with the same outputs
"""

from __future__ import annotations

import argparse

from training import gen_plankton
from training.classifier_training import ClassifierResult, ClassifierRun, metrics_lines, print_result, train_and_export
from training.preprocess import CLASSIFIER_MEAN, CLASSIFIER_SIZE, CLASSIFIER_STD, classifier_input
from training.repository import Card, ModelSpec, write_card, write_config

SPEC = ModelSpec(
    name="plankton_classifier",
    input_dims=(1, CLASSIFIER_SIZE, CLASSIFIER_SIZE),
    output_name="probabilities",
    output_dims=(len(gen_plankton.CLASSES),),
    labels=gen_plankton.CLASSES,
    parameters={
        "aquaflow.task": "classification",
        "aquaflow.color": "gray",
        "aquaflow.resize": "pad_square",
        "aquaflow.invert": "true",
        "aquaflow.mean": ",".join(str(v) for v in CLASSIFIER_MEAN),
        "aquaflow.std": ",".join(str(v) for v in CLASSIFIER_STD),
        "aquaflow.labels": ",".join(gen_plankton.CLASSES),
    },
    classification=True,
)

FULL = ClassifierRun(train_size=10000, test_size=2000, epochs=6, width=16)
QUICK = ClassifierRun(train_size=1200, test_size=400, epochs=1)


def card(run: ClassifierRun, result: ClassifierResult) -> Card:
    return Card(
        title="plankton_classifier",
        task="Classifies one plankton/particle vignette (a region of interest from ZooScan, UVP, FlowCam "
        "or a segmented scan) into one of the classes below. Output `probabilities` [C], softmax applied in "
        "the model; the label of index i is line i of `labels.txt`.",
        inputs=f"`images` FP32 [1, {CLASSIFIER_SIZE}, {CLASSIFIER_SIZE}] (batch implicit, max 32), grey. "
        "Convert to 8-bit grey (PIL `convert('L')`); pad to a square with the image's border colour "
        "(median of the outermost pixel ring), image centred; resize to 64x64 (bilinear); scale to 0..1; "
        f"invert (1 − x, organisms bright on dark); normalise (x − {CLASSIFIER_MEAN[0]}) / {CLASSIFIER_STD[0]}. "
        "Reference implementation: `training/preprocess.py::classifier_input`.",
        classes="\n".join(f"{i}. `{label}`" for i, label in enumerate(gen_plankton.CLASSES)),
        training_data="Procedurally generated grey vignettes (`training/gen_plankton.py`), one organism or "
        "particle per image, shaped like the real EcoTaxa QA images: crops with a margin around the object, "
        "18 px to ~700 px on the long side (mostly 32-180), light background with a gradient, contrast from "
        "faint to dark, Gaussian blur, sensor noise, dust specks, ZooScan scale bars with captions and corner "
        "marks on a third of them, 10% UVP-style inverted polarity, 20% stored as RGB. Random rotation and "
        "mirroring. Training and held-out sets come from different seeds. No real image is used for training; "
        "`python -m training.check_real_images` runs every decodable real image through the exported model.",
        command="python -m training.train_classifier   # or: python -m training.train_all",
        metrics=metrics_lines(result, SPEC.labels, run),
    )


def main(quick: bool = False) -> ClassifierResult:
    run = QUICK if quick else FULL
    write_config(SPEC)
    result = train_and_export(SPEC, gen_plankton.sample, classifier_input, run, "plankton_classifier")
    write_card(SPEC, card(run, result))
    print_result("plankton_classifier", result, SPEC.labels)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (not the published metrics)")
    main(parser.parse_args().quick)
