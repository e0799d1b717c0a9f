"""Ratios, CPU per service, targets and the figures table of a benchmark report."""

from __future__ import annotations

import pytest

from aquaflow_devstack.bench.report import (
    cpu_by_part,
    figure_rows,
    markdown_table,
    model_ratios,
    oscar_baseline,
    service_of,
    services_cpu_ms,
    targets,
    text_table,
)
from tests.unit.bench.sample_report import report


def test_each_inference_worker_counts_as_inference() -> None:
    assert service_of("inference-bench_mobilenet") == "inference"
    assert service_of("results") == "results"
    assert service_of("rabbitmq") is None
    parts = cpu_by_part({"inference-a": 1.0, "inference-b": 0.5, "ingest": 0.2, "mongodb": 3.0, "bench": 9.0})
    assert parts == {"inference": 1.5, "ingest": 0.2, "mongodb": 3.0}


def test_services_cpu_is_the_four_services_only() -> None:
    cpu = report()["models"]["plankton_classifier"]["end_to_end"]["burst_cost"]["cpu_ms_per_item"]
    assert services_cpu_ms(cpu) == pytest.approx(0.25 + 0.25 + 1.5 + 0.0 + 0.5)
    assert services_cpu_ms({"triton": 4.0}) is None


def test_the_oscar_baseline_is_its_best_process_per_file_mode() -> None:
    oscar = report()["models"]["bench_mobilenet"]["oscar"]
    assert oscar_baseline(oscar) == 0.5  # not the exposed service's 20
    assert oscar_baseline({"available": False, "reason": "no DEEPaaS"}) is None


def test_ratios_of_end_to_end_to_each_other_setting() -> None:
    ratios = model_ratios(report()["models"]["bench_mobilenet"])
    assert ratios["aquaflow / raw Triton"] == pytest.approx(0.9)
    assert ratios["aquaflow / ONNX Runtime"] == pytest.approx(0.75)
    assert ratios["aquaflow / OSCAR baseline"] == pytest.approx(90.0)
    assert ratios["aquaflow / OSCAR exposed service"] == pytest.approx(2.25)


def test_targets_are_evaluated_per_model_and_the_realistic_model_is_held_to_the_ratios() -> None:
    found = {t.name: t for t in targets(report())}
    cpu = found["plankton_classifier: the four services' CPU per image (outside Triton, broker, S3, MongoDB)"]
    assert cpu.verdict == "PASS"
    assert cpu.measured == pytest.approx(2.5)
    assert (
        found["bench_mobilenet: the four services' CPU per image (outside Triton, broker, S3, MongoDB)"].verdict
        == "FAIL"
    )
    assert found["plankton_classifier: Triton's average batch size in the pipeline at full load"].verdict == "FAIL"
    assert found["bench_mobilenet: Triton's average batch size in the pipeline at full load"].verdict == "PASS"
    assert found["bench_mobilenet: aquaflow end to end / raw Triton ceiling"].verdict == "PASS"
    assert found["bench_mobilenet: aquaflow end to end / OSCAR baseline"].measured == pytest.approx(90.0)
    latency = found["bench_mobilenet: p99 upload-to-result latency at half peak / idle single-upload latency"]
    assert latency.measured == pytest.approx(2.5)
    assert latency.verdict == "PASS"
    assert not any(name.startswith("plankton_classifier: aquaflow end to end") for name in found)


def test_a_missing_oscar_baseline_is_not_measured_rather_than_failed() -> None:
    data = report()
    data["models"]["bench_mobilenet"]["oscar"] = {"available": False, "reason": "no DEEPaaS environment"}
    found = {t.name: t for t in targets(data)}
    assert found["bench_mobilenet: aquaflow end to end / OSCAR baseline"].verdict == "N/A"


def test_tables_have_one_column_per_model() -> None:
    rows = figure_rows(report())
    labels = [label for label, _ in rows]
    assert "ratio aquaflow / raw Triton" in labels
    assert all(len(cells) == 2 for _, cells in rows)
    by_label = dict(rows)
    assert by_label["ratio aquaflow / OSCAR baseline"] == ["200x", "90x"]
    assert by_label["  Triton's average batch in the pipeline"] == ["4", "16"]
    assert by_label["  mongodb"] == ["3", "-"]
    text = text_table(["figure", "plankton_classifier", "bench_mobilenet"], rows)
    assert text.splitlines()[0].split() == ["figure", "plankton_classifier", "bench_mobilenet"]
    markdown = markdown_table(["figure", "a", "b"], rows)
    assert markdown.splitlines()[1] == "|---|---|---|"
