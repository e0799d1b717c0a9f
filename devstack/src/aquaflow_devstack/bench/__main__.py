"""`make bench`: aquaflow against Triton's ceiling, ONNX Runtime and the OSCAR baseline, side by side.

    python -m aquaflow_devstack.bench [--uploads 2000] [--models plankton_classifier,bench_mobilenet]
        [--skip-oscar] [--backlog 20000] [--quick] [--out out/bench]

See docs/bench.md for what each setting measures. Prints the figures, the ratios and a
PASS/FAIL line per target; writes bench.json, bench.md and bench.png into --out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from aquaflow_devstack.bench.chart import chart_data, draw
from aquaflow_devstack.bench.report import figure_rows, markdown_table, targets, text_table
from aquaflow_devstack.bench.repository import MODELS, ModelExportUnavailable
from aquaflow_devstack.bench.run import WORKDIR, Options, run
from aquaflow_devstack.demo import missing_part_help
from aquaflow_devstack.mongo import MongoUnavailable
from aquaflow_devstack.rabbitmq import RabbitUnavailable
from aquaflow_devstack.s3 import S3Unavailable
from aquaflow_devstack.stack import REPO_ROOT
from aquaflow_devstack.triton_server import TritonStartError, TritonUnavailable

QUICK_UPLOADS = 300
QUICK_BACKLOG = 1_000


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m aquaflow_devstack.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--uploads", type=int, default=None, help="uploads announced at once (default 2000; quick 300)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--skip-oscar", action="store_true", help="leave out the OSCAR baseline")
    parser.add_argument("--oscar-files", type=int, default=None, help="files per OSCAR mode (default 30; quick 6)")
    parser.add_argument(
        "--backlog", type=int, default=None, help="object.received events for the backlog run (default 10000; "
        "quick 1000; 0 skips it; 100000 for the long run)",
    )  # fmt: skip
    parser.add_argument("--no-profile", action="store_true", help="do not sample the services with py-spy")
    parser.add_argument("--concurrencies", type=_ints, default=[1, 4, 16, 32, 64, 128], help="raw Triton")
    parser.add_argument("--batches", type=_ints, default=[1, 8, 16, 32, 64], help="ONNX Runtime batch sizes")
    parser.add_argument("--raw-seconds", type=float, default=None, help="seconds per raw setting (default 6; quick 3)")
    parser.add_argument(
        "--open-loop-seconds", type=float, default=None, help="length of the half-peak run (default 60; quick 15)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a phase's results")
    parser.add_argument(
        "--triton-threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime threads in Triton's runner"
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes: fewer uploads, shorter settings")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "bench")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="models, Triton, the stack's logs and data")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")

    def chosen(value: Any, normal: Any, quick: Any) -> Any:
        return value if value is not None else (quick if args.quick else normal)

    return Options(
        uploads=chosen(args.uploads, 2000, QUICK_UPLOADS),
        models=models,
        oscar=not args.skip_oscar,
        oscar_files=chosen(args.oscar_files, 30, 6),
        backlog=chosen(args.backlog, 10_000, QUICK_BACKLOG),
        profile=not args.no_profile,
        concurrencies=args.concurrencies,
        batches=args.batches,
        raw_seconds=chosen(args.raw_seconds, 6.0, 3.0),
        open_loop_seconds=chosen(args.open_loop_seconds, 60.0, 15.0),
        timeout=args.timeout,
        triton_threads=args.triton_threads,
        out=args.out,
        workdir=args.workdir,
    )


def finish(report: dict[str, Any], out: Path, command: str) -> int:
    """Targets, tables, files; the exit status says whether every measured target passed."""
    checked = targets(report)
    report["command"] = command
    report["targets"] = [
        {"name": t.name, "measured": t.measured, "limit": t.limit, "at_most": t.at_most, "verdict": t.verdict}
        for t in checked
    ]
    header = ["figure", *report["models"]]
    rows = figure_rows(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "bench.md").write_text(f"`{command}`\n\n{markdown_table(header, rows)}\n")
    machine = report["machine"]
    title = f"aquaflow bench: {machine['cpu']}, {machine['cores']} CPUs, {machine['memory_gib']} GiB"
    draw(chart_data(report), title, out / "bench.png")
    print(describe(report))
    print()
    print(text_table(header, rows))
    print(extras(report))
    print("\ntargets")
    for target in checked:
        print(target.describe())
    print(f"\nwritten: {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}")
    return 0 if all(t.passed is not False for t in checked) else 1


def describe(report: dict[str, Any]) -> str:
    machine = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return (
        f"\nmachine: {machine['cpu']}, {machine['cores']} CPUs, {machine['memory_gib']} GiB, {machine['os']}; "
        f"load average at start {machine['load_average_at_start']}\nversions: {versions}"
    )


def extras(report: dict[str, Any]) -> str:
    lines = []
    for name, model in report["models"].items():
        oscar = model.get("oscar", {})
        if not oscar.get("available", False):
            lines.append(f"OSCAR baseline for {name}: not available: {oscar.get('reason', 'not run')}")
    if report.get("peak_rss_mib"):
        peaks = ", ".join(f"{k} {v:.0f}" for k, v in sorted(report["peak_rss_mib"].items()))
        lines.append(f"\npeak RSS (VmHWM), MiB: {peaks}")
    backlog = report.get("backlog")
    if backlog:
        analysis = backlog["analysis"]
        throughput = analysis["throughput"]
        lines.append(
            f"\nbacklog: {backlog['messages']} object.received ({backlog['model']}): {backlog['results']} results, "
            f"{backlog['dead_letters']} dead letters, drained in {backlog['drain_seconds']} s; "
            f"{throughput['overall_results_per_second']} results/s, slope {throughput['slope_per_minute']} per minute "
            f"({throughput['relative_change_over_run']} of the mean over the run)"
        )
        for service, rss in analysis["rss"].items():
            lines.append(
                f"  {service}: RSS {rss['start_mib']} → {rss['end_mib']} MiB (peak {rss['peak_mib']}), "
                f"slope {rss['slope_mib_per_minute']} MiB/min, {rss['slope_mib_per_10k_messages']} MiB per 10k messages"
            )
    profile = report.get("profile") or {}
    if "skipped" in profile:
        lines.append(f"\nprofile: skipped ({profile['skipped']})")
    for model, services in profile.items():
        if not isinstance(services, dict) or "skipped" in profile:
            continue
        lines.append(f"\nhottest functions (py-spy, self time) during a burst of {model}:")
        for service, found in services.items():
            top = ", ".join(f"{f['function']} {f['share']:.0%}" for f in found.get("self", [])[:4])
            ours = ", ".join(f"{f['function']} {f['share']:.0%}" for f in found.get("own_code", [])[:4])
            lines.append(f"  {service} ({found.get('samples', 0)} samples): {top or found.get('error', '-')}")
            if ours:
                lines.append(f"    aquaflow code, inclusive: {ours}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    options = parse(argv)
    command = "python -m aquaflow_devstack.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        report = asyncio.run(run(options))
    except ModelExportUnavailable as error:
        print(f"make bench cannot start: {error}", file=sys.stderr)
        return 2
    except (RabbitUnavailable, TritonUnavailable, TritonStartError, MongoUnavailable, S3Unavailable) as error:
        print(missing_part_help(error).replace("make demo", "make bench"), file=sys.stderr)
        return 2
    return finish(report, options.out, command.strip())


if __name__ == "__main__":
    sys.exit(main())
