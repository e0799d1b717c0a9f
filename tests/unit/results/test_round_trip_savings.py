"""Pure parts of doing less per message: decoding, known sample bases, figures computed once per group."""

from __future__ import annotations

import json

import pytest

from aquaflow_results.aggregates import SampleTally, TalliedFailure, model_figures, sample_figures
from aquaflow_results.samples import KnownBases, figures_basis
from aquaflow_shared.contracts import InferenceCompleted, decode
from aquaflow_shared.errors import PermanentError
from tests.unit.results.factories import particle
from tests.unit.results.test_aggregates import tallied, upload

GOOD = json.loads(particle().model_dump_json())


def test_an_inference_event_without_its_schema_version_is_refused_not_read_as_version_one() -> None:
    # The results consumer decodes with the shared decoder: the field has a default, yet a
    # body that does not name its version is dead-lettered with the decoder's reason and code.
    body = json.dumps({k: v for k, v in GOOD.items() if k != "schema_version"}).encode()
    with pytest.raises(PermanentError) as refused:
        decode(InferenceCompleted, body)
    assert refused.value.code == "schema_version"
    assert decode(InferenceCompleted, json.dumps(GOOD).encode()).schema_version == 1


def test_known_bases_forget_the_samples_refreshed_least_recently() -> None:
    bases = KnownBases(size=2)
    bases.remember("a", {"metadata": {}, "expected_objects": None})
    bases.remember("b", {"metadata": {"volume_ml": 2.0}, "expected_objects": 3})
    assert bases.get("a") is not None  # a is now the most recent
    bases.remember("c", {"metadata": {}, "expected_objects": 1})
    assert (bases.get("a") is not None, bases.get("b"), bases.get("c") is not None) == (True, None, True)
    bases.forget("a")
    assert bases.get("a") is None


def test_a_basis_is_what_the_figures_read_of_the_sample() -> None:
    sample = {"_id": "lov:s", "metadata": {"volume_ml": 2.0}, "expected_objects": 3, "processed": 1, "push": {}}
    assert figures_basis(sample) == {"metadata": {"volume_ml": 2.0}, "expected_objects": 3}
    assert figures_basis({"_id": "lov:s"}) == {"metadata": None, "expected_objects": None}


def test_each_model_and_version_has_its_own_figures_however_many_groups_coincide() -> None:
    results = [tallied(n, "plankton_classifier", "copepod", version="2") for n in range(3)]
    results += [tallied(n, "plankton_classifier", "detritus", version="3", primary=False, minute=5) for n in range(2)]
    results += [tallied(n, "fish_detector", "sardine", primary=False) for n in range(2)]
    failures = [TalliedFailure(upload(4), "fish_detector", primary=False)]
    metadata = {"pixel_size_um": 2.0, "volume_ml": 1.5}
    found = sample_figures(SampleTally(results, failures), metadata, expected_objects=4)
    for name in ("plankton_classifier", "fish_detector"):
        alone = model_figures(
            [r for r in results if r.model == name], [f for f in failures if f.model == name], metadata
        )
        assert found["models"][name] == alone
    assert found["counts"] == {"copepod": 3}
    assert found["models"]["fish_detector"]["failed"] == 1
