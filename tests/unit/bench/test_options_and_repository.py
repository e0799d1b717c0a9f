"""The command's options and the routing table the benchmark writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aquaflow_devstack.bench.__main__ import parse
from aquaflow_devstack.bench.repository import (
    BACKLOG_BUCKET,
    MOBILENET,
    MOBILENET_CONFIG,
    PLANKTON,
    buckets,
    model_card,
    write_routing_table,
)


def test_defaults_and_quick() -> None:
    full = parse([])
    assert (full.uploads, full.backlog, full.oscar_files, full.models) == (2000, 10_000, 30, [PLANKTON, MOBILENET])
    quick = parse(["--quick"])
    assert (quick.uploads, quick.backlog, quick.oscar_files, quick.raw_seconds) == (300, 1000, 6, 3.0)
    mixed = parse(["--quick", "--uploads", "50", "--models", MOBILENET, "--skip-oscar", "--concurrencies", "2,8"])
    assert (mixed.uploads, mixed.models, mixed.oscar, mixed.concurrencies) == (50, [MOBILENET], False, [2, 8])
    assert parse(["--workdir", "somewhere"]).workdir == Path("somewhere")
    assert full.workdir.parts[-2:] == ("build", "bench")


def test_unknown_models_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse(["--models", "resnet"])


def test_the_routing_table_sends_each_bucket_to_its_model(tmp_path: Path) -> None:
    path = write_routing_table(tmp_path, [PLANKTON, MOBILENET], backlog_model=PLANKTON)
    table = yaml.safe_load(path.read_text())
    routes = {rule["match"]["bucket"]: rule["model"] for rule in table["rules"]}
    assert routes == {"bench-plankton": PLANKTON, "bench-mobilenet": MOBILENET, BACKLOG_BUCKET: PLANKTON}
    assert {rule["profile"] for rule in table["rules"]} == {"flowcam"}
    assert set(buckets([MOBILENET])) == {"bench-mobilenet", BACKLOG_BUCKET}


def test_the_model_card_says_what_the_model_is_not() -> None:
    card = model_card(3_500_000)
    assert "only for the benchmark" in card
    assert "random" in card
    assert "No routing rule uses it" in card
    assert "3,500,000" in card
    assert "dims: [ 3, 224, 224 ]" in MOBILENET_CONFIG
