"""`aquaflow status` figures from the services' Prometheus text and the broker's queues."""

from __future__ import annotations

from aquaflow_cli.status_report import (
    QueueFigures,
    ServiceHealth,
    dead_letters_by_stage,
    parse_metrics,
    paused_on,
    problems,
    rates,
    settled_by_stage,
    stage_rows,
    triton_models,
)

SERVICE = """# HELP aquaflow_messages_total Messages settled
# TYPE aquaflow_messages_total counter
aquaflow_messages_total{stage="router",outcome="ok"} 40.0
aquaflow_messages_total{stage="router",outcome="dead_lettered"} 2.0
aquaflow_messages_total{stage="unroutable",outcome="ok"} 1.0
# TYPE aquaflow_dead_letters_total counter
aquaflow_dead_letters_total{stage="router",reason="no_route"} 2.0
aquaflow_dead_letters_total{stage="unroutable",reason="unroutable"} 0.0
# TYPE aquaflow_consumer_paused gauge
aquaflow_consumer_paused{stage="router",dependency="broker"} 0.0
aquaflow_consumer_paused{stage="inference.m",dependency="triton"} 1.0
"""
TRITON = """# TYPE nv_inference_count counter
nv_inference_count{model="plankton_classifier",version="1"} 120
nv_inference_exec_count{model="plankton_classifier",version="1"} 30
nv_inference_request_success{model="plankton_classifier",version="1"} 120
nv_inference_pending_request_count{model="plankton_classifier",version="1"} 4
nv_inference_count{model="idle",version="1"} 0
"""


def test_settled_messages_dead_letters_and_pauses_are_read_per_stage() -> None:
    samples = parse_metrics(SERVICE)
    assert settled_by_stage(samples) == {"router": 42.0, "unroutable": 1.0}
    assert dead_letters_by_stage(samples) == {"router": {"no_route": 2.0}}
    assert paused_on(samples) == {"inference.m": ["triton"]}


def test_rates_are_differences_over_time_and_survive_a_restart() -> None:
    assert rates({"router": 10.0, "results": 50.0}, {"router": 30.0, "results": 4.0, "new": 2.0}, 2.0) == {
        "router": 10.0,
        "results": 2.0,  # the counter went down: the service restarted and counted 4 since
        "new": 1.0,
    }
    assert rates({}, {"router": 1.0}, 0) == {}


def test_triton_models_give_the_average_batch() -> None:
    models = triton_models(parse_metrics(TRITON))
    assert models["plankton_classifier"]["average_batch"] == 4.0
    assert models["plankton_classifier"]["pending"] == 4.0
    assert models["idle"]["average_batch"] == 0.0


def test_problems_name_what_needs_a_look() -> None:
    samples = parse_metrics(SERVICE)
    queues = {
        "router": QueueFigures("p.router", True, messages=5, consumers=0),
        "inference.m": QueueFigures("p.inference.m", True, messages=0, consumers=1),
    }
    retries = {s: QueueFigures(f"p.{s}.retry", True) for s in queues}
    rows = stage_rows(["router", "inference.m"], queues, retries, {"router": 1.5}, samples)
    assert rows[0].as_dict()["dead_letters"] == {"no_route": 2.0}
    assert rows[0].as_dict()["rate_per_second"] == 1.5
    assert rows[1].as_dict()["rate_per_second"] == 0.0
    services = [
        ServiceHealth("router", "http://r", True, {"broker": True}),
        ServiceHealth("results", "http://s", False, {"broker": True, "store": False}),
        ServiceHealth("ingest", "http://i", None, error="no answer: ConnectError"),
        ServiceHealth("unset", None, None, error="not configured"),
    ]
    triton = ServiceHealth("triton", "http://t", False, error="not ready (503)")
    assert problems(services, triton, rows) == [
        "results: unhealthy: store",
        "ingest: no answer: ConnectError",
        "triton: not ready (503)",
        "router: 5 messages waiting and no consumer",
        "inference.m: paused, waiting for triton",
    ]
    healthy = [ServiceHealth("router", "http://r", True)]
    assert problems(healthy, ServiceHealth("triton", None, None), stage_rows([], {}, {}, None, [])) == []
