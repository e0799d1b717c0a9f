"""Triton's average batch size from two scrapes of its metrics."""

from __future__ import annotations

import pytest

from aquaflow_devstack.bench.triton_metrics import BatchCounters, counter_by_model

SCRAPE = """# HELP nv_inference_count Number of inferences performed
# TYPE nv_inference_count counter
nv_inference_count{model="plankton_classifier",version="1"} 640
nv_inference_count{model="plankton_classifier",version="2"} 160
nv_inference_count{model="bench_mobilenet",version="1"} 96
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="plankton_classifier",version="1"} 40
nv_inference_exec_count{model="plankton_classifier",version="2"} 10
nv_inference_exec_count{model="bench_mobilenet",version="1"} 12
nv_inference_request_success{model="bench_mobilenet",version="1"} 96
"""


def test_counters_are_summed_over_versions() -> None:
    assert counter_by_model(SCRAPE, "nv_inference_count") == {"plankton_classifier": 800.0, "bench_mobilenet": 96.0}
    assert counter_by_model(SCRAPE, "nv_inference_exec_count")["plankton_classifier"] == 50.0
    assert counter_by_model("", "nv_inference_count") == {}


def test_average_batch_between_two_scrapes() -> None:
    later = SCRAPE.replace("} 640", "} 1000").replace(
        'exec_count{model="plankton_classifier",version="1"} 40',
        'exec_count{model="plankton_classifier",version="1"} 60',
    )
    delta = BatchCounters.read(later, "plankton_classifier").since(BatchCounters.read(SCRAPE, "plankton_classifier"))
    assert delta == BatchCounters(inferences=360.0, executions=20.0)
    assert delta.average_batch == pytest.approx(18.0)


def test_no_execution_means_no_average() -> None:
    same = BatchCounters.read(SCRAPE, "bench_mobilenet")
    assert same.since(same).average_batch is None
    assert BatchCounters.read(SCRAPE, "unknown").average_batch is None
