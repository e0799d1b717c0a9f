"""Train the litter tile classifier on generated drone-image tiles, export it and rewrite its model card.

python -m training.train_tiles            # the full run
python -m training.train_tiles --quick    # a short smoke run with the same outputs
"""

from __future__ import annotations

import argparse

from training import gen_litter_tiles
from training.classifier_training import ClassifierResult, ClassifierRun, metrics_lines, print_result, train_and_export
from training.preprocess import TILE_INPUT_SIZE, TILE_MEAN, TILE_SOURCE_SIZE, TILE_STD, tile_input
from training.repository import Card, ModelSpec, write_card, write_config

SPEC = ModelSpec(
    name="litter_tiles",
    input_dims=(3, TILE_INPUT_SIZE, TILE_INPUT_SIZE),
    output_name="probabilities",
    output_dims=(len(gen_litter_tiles.CLASSES),),
    labels=gen_litter_tiles.CLASSES,
    parameters={
        "aquaflow.task": "classification",
        "aquaflow.color": "rgb",
        "aquaflow.resize": "pad_square",
        "aquaflow.invert": "false",
        "aquaflow.mean": ",".join(str(v) for v in TILE_MEAN),
        "aquaflow.std": ",".join(str(v) for v in TILE_STD),
        "aquaflow.labels": ",".join(gen_litter_tiles.CLASSES),
        "aquaflow.tile_size": str(TILE_SOURCE_SIZE),
    },
    classification=True,
)

FULL = ClassifierRun(train_size=8000, test_size=1500, epochs=6, width=16)
QUICK = ClassifierRun(train_size=600, test_size=300, epochs=1, width=16)


def card(run: ClassifierRun, result: ClassifierResult) -> Card:
    return Card(
        title="litter_tiles",
        task=f"Classifies one tile of a drone image of the sea surface as `water`, `litter` or `other`. The "
        f"drone image is cut into {TILE_SOURCE_SIZE}x{TILE_SOURCE_SIZE} px tiles (`aquaflow.tile_size`), each "
        "resized to the input size. Output `probabilities` [3], softmax applied in the model.",
        inputs=f"`images` FP32 [3, {TILE_INPUT_SIZE}, {TILE_INPUT_SIZE}] (batch implicit, max 32), RGB. Tiles at "
        "the image edge that are not square are padded to a square with their border colour (median of the "
        "outermost pixel ring) first; resize to 64x64 (bilinear); scale to 0..1; no inversion; normalise per "
        f"channel (x − mean) / std with mean {TILE_MEAN} and std {TILE_STD}. Reference implementation: "
        "`training/preprocess.py::tile_input`.",
        classes="0. `water`: open sea surface, waves, whitecap dots, sun glints\n"
        "1. `litter`: floating man-made objects: bottles, cans, bags, net pieces, plastic fragments\n"
        "2. `other`: natural or non-litter things: foam streaks, seaweed clumps, sea birds, boats with wakes",
        training_data="Procedurally generated RGB tiles (`training/gen_litter_tiles.py`): sea textures of "
        "varying colour (deep blue to green-grey), wave direction and frequency, shading, crests and glints; "
        "litter and other objects in random sizes, colours, orientations and opacity; tile size jittered "
        "±15% around 128 px, occasional defocus, 15% partial edge tiles. Training and held-out sets come "
        "from different seeds.",
        command="python -m training.train_tiles   # or: python -m training.train_all",
        metrics=metrics_lines(result, SPEC.labels, run),
    )


def main(quick: bool = False) -> ClassifierResult:
    run = QUICK if quick else FULL
    write_config(SPEC)
    result = train_and_export(SPEC, gen_litter_tiles.sample, tile_input, run, "litter_tiles")
    write_card(SPEC, card(run, result))
    print_result("litter_tiles", result, SPEC.labels)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (not the published metrics)")
    main(parser.parse_args().quick)
