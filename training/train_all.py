"""Train, evaluate and export all three models and rewrite their model cards (what `make models` runs).

After training: the plankton classifier's calibration on real images and its confidence threshold
(`training/calibration.py`), and every model's drift reference (`training/drift_reference.py`).

python -m training.train_all            # the published models (well under 15 minutes on 2 CPUs)
python -m training.train_all --quick    # a short smoke run that writes interface-correct files
"""

from __future__ import annotations

import argparse
import time

from training import calibration, drift_reference, train_classifier, train_detector, train_tiles


def main(quick: bool = False) -> None:
    started = time.monotonic()
    plankton = train_classifier.main(quick)
    tiles = train_tiles.main(quick)
    fish = train_detector.main(quick)
    # Both read the files just written: the card gains its real-image section, each model its reference.
    real = calibration.main()
    drift_reference.main()
    minutes = (time.monotonic() - started) / 60
    print()
    print(f"all models trained in {minutes:.1f} min")
    print(f"  plankton_classifier  top-1 accuracy {plankton.accuracy:.4f}")
    print(f"  litter_tiles         top-1 accuracy {tiles.accuracy:.4f}")
    print(f"  fish_detector        mAP@0.5        {fish.map50:.4f}")
    print(
        f"  plankton_classifier  on {real.images} real pictures: accuracy {real.accuracy_all:.4f}, "
        f"ECE {real.ece:.4f}, threshold {real.chosen.threshold:.2f} (coverage {real.chosen.coverage:.3f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (not the published metrics)")
    main(parser.parse_args().quick)
