"""Train, evaluate and export all three models and rewrite their model cards (what `make models` runs).

python -m training.train_all            # the published models (well under 15 minutes on 2 CPUs)
python -m training.train_all --quick    # a short smoke run that writes interface-correct files
"""

from __future__ import annotations

import argparse
import time

from training import train_classifier, train_detector, train_tiles


def main(quick: bool = False) -> None:
    started = time.monotonic()
    plankton = train_classifier.main(quick)
    tiles = train_tiles.main(quick)
    fish = train_detector.main(quick)
    minutes = (time.monotonic() - started) / 60
    print()
    print(f"all models trained in {minutes:.1f} min")
    print(f"  plankton_classifier  top-1 accuracy {plankton.accuracy:.4f}")
    print(f"  litter_tiles         top-1 accuracy {tiles.accuracy:.4f}")
    print(f"  fish_detector        mAP@0.5        {fish.map50:.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (not the published metrics)")
    main(parser.parse_args().quick)
