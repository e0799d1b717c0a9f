"""From measured figures to ratios, targets and tables (pure: the report is a plain dict)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aquaflow_devstack.bench.figures import Target, ratio

SERVICES = ("ingest", "router", "inference", "results")
BACKING_PARTS = ("rabbitmq", "s3", "mongodb", "triton")
REALISTIC_MODEL = "bench_mobilenet"
PROCESS_PER_FILE = "process per file"

# The goals the benchmark reports against.
SERVICE_CPU_MS_LIMIT = 3.0
MIN_PIPELINE_BATCH = 8.0
MIN_SHARE_OF_TRITON = 0.8
MIN_TIMES_OSCAR = 50.0
MAX_P99_OVER_IDLE = 3.0


def service_of(part: str) -> str | None:
    """Which of the four services a process belongs to (``inference-<model>`` is inference)."""
    name = part.split("-", 1)[0]
    return name if name in SERVICES else None


def cpu_by_part(cpu_ms: dict[str, float | None]) -> dict[str, float]:
    """Per-image CPU of the four services (inference workers summed) and of the backing parts."""
    found: dict[str, float] = {}
    for part, ms in cpu_ms.items():
        if ms is None:
            continue
        name = service_of(part) or (part if part in BACKING_PARTS else None)
        if name is not None:
            found[name] = found.get(name, 0.0) + ms
    return found


def services_cpu_ms(cpu_ms: dict[str, float | None]) -> float | None:
    parts = cpu_by_part(cpu_ms)
    present = [parts[s] for s in SERVICES if s in parts]
    return sum(present) if present else None


def oscar_baseline(oscar: dict[str, Any]) -> float | None:
    """OSCAR's best process-per-file rate: the strongest form of the baseline, so ratios to it are the smallest."""
    rates = [r["images_per_second"] for r in oscar.get("runs", []) if r["mode"].startswith(PROCESS_PER_FILE)]
    return max(rates) if rates else None


def oscar_exposed(oscar: dict[str, Any]) -> float | None:
    rates = [r["images_per_second"] for r in oscar.get("runs", []) if r["mode"].startswith("exposed")]
    return max(rates) if rates else None


RATIOS = (
    "aquaflow / raw Triton",
    "aquaflow / ONNX Runtime",
    "aquaflow / OSCAR baseline",
    "aquaflow / OSCAR exposed service",
)


def model_ratios(model: dict[str, Any]) -> dict[str, float | None]:
    e2e = model["end_to_end"].get("images_per_second")
    return {
        "aquaflow / raw Triton": ratio(e2e, (model.get("raw_triton_best") or {}).get("images_per_second")),
        "aquaflow / ONNX Runtime": ratio(e2e, (model.get("onnxruntime_best") or {}).get("images_per_second")),
        "aquaflow / OSCAR baseline": ratio(e2e, oscar_baseline(model.get("oscar", {}))),
        "aquaflow / OSCAR exposed service": ratio(e2e, oscar_exposed(model.get("oscar", {}))),
    }


def pipeline_batch(model_name: str, model: dict[str, Any]) -> float | None:
    cost = model["end_to_end"].get("burst_cost") or {}
    value: float | None = (cost.get("triton_average_batch") or {}).get(model_name)
    return value


def targets(report: dict[str, Any]) -> list[Target]:
    found = []
    for name, model in report["models"].items():
        cost = model["end_to_end"].get("burst_cost") or {}
        found.append(
            Target(
                f"{name}: the four services' CPU per image (outside Triton, broker, S3, MongoDB)",
                services_cpu_ms(cost.get("cpu_ms_per_item") or {}),
                SERVICE_CPU_MS_LIMIT,
                at_most=True,
                unit=" ms",
            )
        )
        found.append(
            Target(
                f"{name}: Triton's average batch size in the pipeline at full load",
                pipeline_batch(name, model),
                MIN_PIPELINE_BATCH,
                at_most=False,
            )
        )
        if name == REALISTIC_MODEL:
            ratios = model_ratios(model)
            found.append(
                Target(
                    f"{name}: aquaflow end to end / raw Triton ceiling",
                    ratios["aquaflow / raw Triton"],
                    MIN_SHARE_OF_TRITON,
                    at_most=False,
                    unit="x",
                )
            )
            found.append(
                Target(
                    f"{name}: aquaflow end to end / OSCAR baseline",
                    ratios["aquaflow / OSCAR baseline"],
                    MIN_TIMES_OSCAR,
                    at_most=False,
                    unit="x",
                )
            )
        e2e = model["end_to_end"]
        found.append(
            Target(
                f"{name}: p99 upload-to-result latency at half peak / idle single-upload latency",
                ratio(e2e.get("open_loop_p99_s"), e2e.get("idle_latency_s")),
                MAX_P99_OVER_IDLE,
                at_most=True,
                unit="x",
            )
        )
    return found


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


Row = tuple[str, list[str]]


def figure_rows(report: dict[str, Any]) -> list[Row]:
    """The figures table: one row per figure, one column per model."""
    models = report["models"]
    names = list(models)

    def row(label: str, cell: Callable[[str, dict[str, Any]], str]) -> Row:
        return (label, [cell(name, models[name]) for name in names])

    def best(kind: str) -> Callable[[str, dict[str, Any]], str]:
        def cell(_name: str, m: dict[str, Any]) -> str:
            run = m.get(f"{kind}_best")
            return "-" if not run else f"{_num(run['images_per_second'])} ({run['setting']})"

        return cell

    def oscar(mode: str) -> Callable[[str, dict[str, Any]], str]:
        def cell(_name: str, m: dict[str, Any]) -> str:
            oscar = m.get("oscar", {})
            if not oscar.get("available", False):
                return "n/a"
            rates = [r["images_per_second"] for r in oscar.get("runs", []) if r["mode"] == mode]
            return _num(rates[0]) if rates else "-"

        return cell

    def cpu(part: str) -> Callable[[str, dict[str, Any]], str]:
        def cell(_name: str, m: dict[str, Any]) -> str:
            cost = m["end_to_end"].get("burst_cost") or {}
            parts = cpu_by_part(cost.get("cpu_ms_per_item") or {})
            if part == "services":
                return _num(services_cpu_ms(cost.get("cpu_ms_per_item") or {}))
            return _num(parts.get(part))

        return cell

    def triton_batch_at_ceiling(name: str, m: dict[str, Any]) -> str:
        run = m.get("raw_triton_best") or {}
        return _num(((run.get("cost") or {}).get("triton_average_batch") or {}).get(name))

    rows: list[Row] = [
        ("model", [models[n]["summary"] for n in names]),
        row("raw Triton ceiling, images/s (best concurrency)", best("raw_triton")),
        row("  Triton's average batch at the ceiling", triton_batch_at_ceiling),
        row("ONNX Runtime in process, images/s (best batch)", best("onnxruntime")),
        row("aquaflow end to end, images/s", lambda _n, m: _num(m["end_to_end"].get("images_per_second"))),
        row("  uploads / results / dead letters", lambda _n, m: _settled(m["end_to_end"])),
        row("  Triton's average batch in the pipeline", lambda n, m: _num(pipeline_batch(n, m))),
        row("OSCAR: process per file, 1 at a time, images/s", oscar("process per file, one at a time")),
        row("OSCAR: process per file, 2 in parallel, images/s", oscar("process per file, 2 in parallel")),
        row(
            "OSCAR: exposed service, images/s",
            oscar("exposed service (deepaas-run), one request per file"),
        ),
        row("idle single upload, upload-to-result s (median)", lambda _n, m: _e2e(m, "idle_latency_s")),
        row("open loop at half peak: rate, images/s", lambda _n, m: _num(m["end_to_end"].get("open_loop_rate"))),
        row("  p50 upload-to-result s", lambda _n, m: _num(m["end_to_end"].get("open_loop_p50_s"))),
        row("  p99 upload-to-result s", lambda _n, m: _num(m["end_to_end"].get("open_loop_p99_s"))),
    ]
    for label in RATIOS:
        rows.append(row(f"ratio {label}", _ratio_cell(label)))
    rows.append(("CPU ms per image (full load):", ["" for _ in names]))
    for part in (*SERVICES, "services", *BACKING_PARTS):
        label = "  the four services together" if part == "services" else f"  {part}"
        rows.append(row(label, cpu(part)))
    rows.append(row("machine busy during the burst", lambda _n, m: _busy(m)))
    return rows


def _e2e(model: dict[str, Any], name: str) -> str:
    value: float | None = model["end_to_end"].get(name)
    return _num(value)


def _settled(e2e: dict[str, Any]) -> str:
    burst = e2e.get("burst") or {}
    return f"{e2e.get('uploads')} / {burst.get('results', '-')} / {burst.get('dead_letters', '-')}"


def _ratio_cell(label: str) -> Callable[[str, dict[str, Any]], str]:
    def cell(_name: str, model: dict[str, Any]) -> str:
        return _ratio(model_ratios(model)[label])

    return cell


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


def _busy(model: dict[str, Any]) -> str:
    busy = (model["end_to_end"].get("burst_cost") or {}).get("machine_busy")
    return "-" if busy is None else f"{busy:.0%}"


def text_table(header: list[str], rows: list[Row]) -> str:
    widths = [max(len(header[0]), *(len(r[0]) for r in rows))]
    for i in range(1, len(header)):
        widths.append(max(len(header[i]), *(len(r[1][i - 1]) for r in rows)))
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for label, cells in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip([label, *cells], widths, strict=True)))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([label.strip(), *cells]) + " |" for label, cells in rows]
    return "\n".join(lines)
