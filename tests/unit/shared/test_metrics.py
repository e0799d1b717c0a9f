"""Labelled metric children looked up once, counting into the same series as ``labels()``."""

from __future__ import annotations

from aquaflow_shared.metrics import Children, ConsumerMetrics


def test_a_child_is_looked_up_once_and_counts_into_its_series() -> None:
    metrics = ConsumerMetrics()
    settled = Children(metrics.messages)

    settled("router", "ok").inc()
    settled("router", "ok").inc()
    settled("router", "dead_lettered").inc()

    assert settled("router", "ok") is settled("router", "ok")
    assert metrics.registry.get_sample_value("aquaflow_messages_total", {"stage": "router", "outcome": "ok"}) == 2.0
    assert (
        metrics.registry.get_sample_value("aquaflow_messages_total", {"stage": "router", "outcome": "dead_lettered"})
        == 1.0
    )
