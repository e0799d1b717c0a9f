"""What bench.png shows, and that it is drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aquaflow_devstack.bench.chart import chart_data, draw
from tests.unit.bench.sample_report import report


def test_chart_data_has_every_setting_per_model_and_cpu_stacked_by_process() -> None:
    data = chart_data(report())
    labels = [(b.group, b.label) for b in data.throughput]
    assert labels[:6] == [
        ("plankton_classifier", "raw Triton"),
        ("plankton_classifier", "ONNX Runtime"),
        ("plankton_classifier", "aquaflow"),
        ("plankton_classifier", "OSCAR, 1 at a time"),
        ("plankton_classifier", "OSCAR, 2 in parallel"),
        ("plankton_classifier", "OSCAR exposed"),
    ]
    plankton, mobilenet = data.cpu
    assert dict(plankton.parts)["inference"] == pytest.approx(1.5)  # the idle worker's 0 is left out
    assert [p for p, _ in mobilenet.parts] == ["ingest", "router", "inference", "results", "rabbitmq", "s3", "triton"]
    assert mobilenet.total == pytest.approx(0.5 + 0.4 + 6.0 + 0.6 + 1.0 + 2.0 + 40.0)


def test_settings_without_a_figure_are_left_out() -> None:
    data = report()
    data["models"]["bench_mobilenet"]["oscar"] = {"available": False, "reason": "skipped"}
    data["models"]["bench_mobilenet"]["end_to_end"]["images_per_second"] = None
    bars = chart_data(data).throughput
    assert [b.label for b in bars if b.group == "bench_mobilenet"] == ["raw Triton", "ONNX Runtime"]


def test_draw_writes_a_png(tmp_path: Path) -> None:
    path = draw(chart_data(report()), "bench", tmp_path / "bench.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == 1100
