"""`make demo`: the main job on one machine, from upload to the scientist's EcoTaxa project.

Starts the native stack with the EcoTaxa stand-in, groups the real plankton images
(the corrupted ones included) into samples, one folder per sample with a
``sample.json`` manifest beside the images, uploads them into two watched buckets
and announces them as MinIO would. It waits with progress bars until every upload
has a stored result or a dead letter, closes through the API the samples that
cannot complete (some of their uploads failed), waits until each sample is pushed
into EcoTaxa, reads the imported objects back, and checks that every crop and
preview is in the output bucket. It prints a table per image and a summary per
sample, writes them to ``out/demo/`` with pictures (regions drawn on the segmented
scans, a labelled contact sheet, previews from the output bucket), and stops
everything it started. MongoDB keeps its data under ``build/demo/mongo``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aquaflow_devstack.mongo import MongoUnavailable
from aquaflow_devstack.observe import (
    ObservedDeadLetter,
    close_sample,
    missing_outputs,
    output_keys,
    push_sample,
    stored_results,
    stored_samples,
    take_dead_letters,
)
from aquaflow_devstack.pictures import annotate, contact_sheet
from aquaflow_devstack.rabbitmq import RabbitUnavailable, delete_topology
from aquaflow_devstack.s3 import S3Unavailable
from aquaflow_devstack.samples import PlannedSample, Sample, group_into_samples, real_images
from aquaflow_devstack.stack import REPO_ROOT, NativeStack, StackConfig
from aquaflow_devstack.triton_server import TritonStartError, TritonUnavailable

TENANT = "lov"
# ZooScan-style runs go through segmentation; everything else is one particle per image.
ZOOSCAN_FOLDERS = ("import_test/", "import_update/")
# Push states after which nothing more happens without someone asking again.
SETTLED_PUSH_STATES = {"done", "failed", "needs_attention", "not_configured"}
PREVIEWS_KEPT = 6
POLL_SECONDS = 0.5

# (bucket, key) of one upload
Where = tuple[str, str]


def bucket_for(image: Sample) -> str:
    return "plankton-zooscan" if image.key.startswith(ZOOSCAN_FOLDERS) else "plankton-flowcam"


@dataclass
class Observed:
    """What the demo saw of its uploads: stored results and dead letters, by (bucket, key)."""

    results: dict[Where, dict[str, Any]] = field(default_factory=dict)
    dead: dict[Where, ObservedDeadLetter] = field(default_factory=dict)

    def settled(self, where: Where) -> bool:
        return where in self.results or where in self.dead


@dataclass(frozen=True)
class SampleReport:
    """One sample at the end of the demo, as the scientist sees it."""

    planned: PlannedSample
    stored: dict[str, Any]
    failed: int  # its uploads that ended as dead letters
    closed_by_demo: bool
    in_ecotaxa: int  # objects the EcoTaxa project holds for it
    predicted_in_ecotaxa: int  # of which imported with status P and a taxon
    outputs: int  # crops and previews its results name
    missing_outputs: int  # of which not in the output bucket


def uploads_of(planned: list[PlannedSample]) -> dict[Where, Sample]:
    return {(p.bucket, p.key(image)): image for p in planned for image in p.images}


def upload_everything(stack: NativeStack, planned: list[PlannedSample]) -> list[dict[str, Any]]:
    """Each sample's manifest, then its images; the notifications announcing them."""
    events = []
    for sample in planned:
        manifest = json.dumps(sample.manifest, indent=2).encode()
        events.append(stack.upload(sample.bucket, sample.manifest_key, manifest))
        events += [stack.upload(sample.bucket, sample.key(image), image.path.read_bytes()) for image in sample.images]
    return events


async def until_settled(stack: NativeStack, uploads: set[Where], deadline: float) -> Observed:
    """Wait until every upload has a stored result or a dead letter (or the deadline passes)."""
    seen = Observed()
    pending = set(uploads)
    with tqdm(total=len(pending), desc="uploads settled", unit="image") as bar:
        while pending and time.monotonic() < deadline:
            for result in await stored_results(stack.results_url, stack.api_token(TENANT)):
                seen.results.setdefault((result["object"]["bucket"], result["object"]["key"]), result)
            for letter in await take_dead_letters(stack.config.broker_url, stack.topology.dead_letter_queue.name):
                seen.dead.setdefault((letter.bucket, letter.key), letter)
            settled = {w for w in pending if seen.settled(w)}
            bar.update(len(settled))
            pending -= settled
            if pending:
                await asyncio.sleep(POLL_SECONDS)
    return seen


async def finish_samples(stack: NativeStack, planned: list[PlannedSample], seen: Observed, since: datetime) -> set[str]:
    """Close the samples that cannot complete, and push again those last pushed before this run.

    Dead letters never reach the results service, so a sample with failed uploads never
    counts itself complete: closing it declares that nothing more will come. MongoDB keeps
    the samples of earlier runs, while the EcoTaxa stand-in starts empty each time.
    Returns the ids of the samples closed here.
    """
    url, token = stack.results_url, stack.api_token(TENANT)
    stored = {s["sample_id"]: s for s in await stored_samples(url, token)}
    closed = set()
    for sample in planned:
        document = stored.get(sample.sample_id) or {}
        if not document.get("complete") and not document.get("closed"):
            await close_sample(url, token, sample.sample_id)
            closed.add(sample.sample_id)
        elif _pushed_before(document, since):
            await push_sample(url, token, sample.sample_id)
    return closed


def _pushed_before(document: dict[str, Any], since: datetime) -> bool:
    push = document.get("push") or {}
    if push.get("state") not in SETTLED_PUSH_STATES:
        return False
    return _utc(push["updated_at"]) < since


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def until_pushed(
    stack: NativeStack, planned: list[PlannedSample], since: datetime, deadline: float
) -> dict[str, dict[str, Any]]:
    """Wait until each sample's push of this run has ended (done, or a state that needs a person)."""
    wanted = {p.sample_id for p in planned}

    def pushed(document: dict[str, Any]) -> bool:
        push = document.get("push") or {}
        return push.get("state") in SETTLED_PUSH_STATES and _utc(push["updated_at"]) >= since

    found: dict[str, dict[str, Any]] = {}
    with tqdm(total=len(wanted), desc="samples pushed to EcoTaxa", unit="sample") as bar:
        while time.monotonic() < deadline:
            documents = await stored_samples(stack.results_url, stack.api_token(TENANT))
            found = {d["sample_id"]: d for d in documents if d["sample_id"] in wanted}
            done = sum(1 for d in found.values() if pushed(d))
            bar.update(done - bar.n)
            if done == len(wanted):
                break
            await asyncio.sleep(POLL_SECONDS)
    return found


def sample_reports(
    stack: NativeStack,
    planned: list[PlannedSample],
    stored: dict[str, dict[str, Any]],
    seen: Observed,
    closed: set[str],
) -> list[SampleReport]:
    assert stack.ecotaxa is not None
    assert stack.s3 is not None
    imported = stack.ecotaxa.objects(stack.ecotaxa_project(TENANT))
    s3 = stack.s3.client()
    reports = []
    for sample in planned:
        wheres = [(sample.bucket, sample.key(image)) for image in sample.images]
        results = [seen.results[w] for w in wheres if w in seen.results]
        in_ecotaxa = [o for o in imported if o["sample_id"] == sample.sample_id]
        reports.append(
            SampleReport(
                planned=sample,
                stored=stored.get(sample.sample_id, {}),
                failed=sum(1 for w in wheres if w in seen.dead),
                closed_by_demo=sample.sample_id in closed,
                in_ecotaxa=len(in_ecotaxa),
                predicted_in_ecotaxa=sum(1 for o in in_ecotaxa if o["status"] == "P"),
                outputs=sum(len(output_keys(r)) for r in results),
                missing_outputs=len(missing_outputs(s3, results)),
            )
        )
    return reports


def sample_row(report: SampleReport) -> dict[str, Any]:
    stored, push = report.stored, report.stored.get("push") or {}
    counts: dict[str, int] = stored.get("counts") or {}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    abundance = stored.get("abundance") or {}
    return {
        "sample": report.planned.sample_id,
        "instrument": report.planned.manifest["instrument"],
        "station": report.planned.manifest["station"],
        "expected": stored.get("expected_objects"),
        "processed": stored.get("processed", 0),
        "failed": report.failed,
        # Closed through the API, now or by an earlier run (MongoDB keeps the samples).
        "closed": report.closed_by_demo or bool(stored.get("closed")),
        "objects": stored.get("objects", 0),
        "top_classes": ", ".join(f"{label} {n}" for label, n in top) or "-",
        "unclassified": stored.get("unclassified", 0),
        "abundance": f"{abundance['total']:.3g} {abundance['unit']}" if abundance.get("total") is not None else "-",
        "push": push.get("state", "-") + (f" ({push['reason']})" if push.get("reason") else ""),
        "in_ecotaxa": report.in_ecotaxa,
        "predicted_in_ecotaxa": report.predicted_in_ecotaxa,
        "outputs": report.outputs,
        "outputs_missing": report.missing_outputs,
    }


def sample_ok(report: SampleReport) -> bool:
    stored = report.stored
    push = stored.get("push") or {}
    return (
        push.get("state") == "done"
        and report.in_ecotaxa == stored.get("objects")
        and report.missing_outputs == 0
        and stored.get("processed", 0) + report.failed == len(report.planned.images)
    )


async def run(out_dir: Path, limit: int | None, settle_seconds: float) -> int:
    images = real_images()[:limit] if limit else real_images()
    planned = group_into_samples(images, bucket_for)
    prefix = f"aquaflow-demo-{uuid.uuid4().hex[:6]}"
    workdir = REPO_ROOT / "build" / "demo"
    # S3 (moto) and EcoTaxa (the stand-in) start empty every run: so does MongoDB, or the
    # results of an earlier run would point at crops and EcoTaxa jobs that no longer exist.
    # The data of this run stays on disk until the next one.
    shutil.rmtree(workdir / "mongo", ignore_errors=True)
    config = StackConfig(
        prefix=prefix,
        workdir=workdir,
        buckets={"plankton-flowcam": TENANT, "plankton-zooscan": TENANT},
        mongodb_url=os.environ.get("MONGODB_URL"),
        ecotaxa=True,
    )
    stack = NativeStack(config)
    start(stack)
    try:
        since = datetime.now(UTC)
        deadline = time.monotonic() + settle_seconds
        uploads = uploads_of(planned)
        await stack.notify(upload_everything(stack, planned))
        seen = await until_settled(stack, set(uploads), deadline)
        closed = await finish_samples(stack, planned, seen, since)
        stored = await until_pushed(stack, planned, since, deadline)
        reports = sample_reports(stack, planned, stored, seen, closed)
        rows = table_rows(uploads, seen)
        write_outputs(out_dir, rows)
        draw_pictures(out_dir, uploads, seen, config.model_repository)
        previews = copy_previews(stack, seen, out_dir / "previews")
        samples = [sample_row(r) for r in reports]
        write_sample_outputs(out_dir, samples)
        print_table(rows)
        print_samples(samples)
        unsettled = len(uploads) - sum(1 for w in uploads if seen.settled(w))
        outputs, missing = sum(r.outputs for r in reports), sum(r.missing_outputs for r in reports)
        print(
            f"\n{len(seen.results)} results stored, {len(seen.dead)} dead letters, {unsettled} unsettled; "
            f"{sum(sample_ok(r) for r in reports)}/{len(reports)} samples complete and in EcoTaxa "
            f"({sum(r.in_ecotaxa for r in reports)} objects imported); "
            f"{outputs - missing}/{outputs} crops and previews in s3://{config.output_bucket}, "
            f"{len(previews)} previews copied; see {out_dir}"
        )
        print_mongo(stack)
        return 0 if unsettled == 0 and all(sample_ok(r) for r in reports) else 1
    finally:
        stack.stop()
        await delete_topology(config.broker_url, prefix, config.models)


def start(stack: NativeStack) -> None:
    with tqdm(total=stack.start_parts, desc="starting", unit="part") as bar:

        def advance(part: str) -> None:
            bar.set_description(f"starting {part}")
            bar.update(1)

        stack.start(progress=advance)


def describe(result: dict[str, Any]) -> str:
    if result.get("classification"):
        c = result["classification"]
        return f"{c['label']} ({c['score']:.2f})"
    if result.get("regions"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.get("counts", {}).items()))
        return f"{len(result['regions'])} regions: {counts}"
    return json.dumps(result.get("summary", {}))


def table_rows(uploads: dict[Where, Sample], seen: Observed) -> list[dict[str, str]]:
    rows = []
    for where in uploads:
        key = where[1]
        if where in seen.results:
            result = seen.results[where]
            rows.append({"image": key, "profile": result["profile"], "outcome": describe(result)})
        elif where in seen.dead:
            letter = seen.dead[where]
            rows.append({"image": key, "profile": "-", "outcome": f"DEAD LETTER ({letter.stage}): {letter.reason}"})
        else:
            rows.append({"image": key, "profile": "-", "outcome": "no outcome before the deadline"})
    return rows


def print_table(rows: list[dict[str, str]]) -> None:
    width = min(max(len(r["image"]) for r in rows), 70)
    print(f"\n{'image':<{width}}  {'profile':<8}  outcome")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for row in rows:
        print(f"{row['image'][-width:]:<{width}}  {row['profile']:<8}  {row['outcome']}")


SAMPLE_COLUMNS = (
    ("sample", "sample"),
    ("instrument", "instrument"),
    ("expected", "expected"),
    ("processed", "processed"),
    ("failed", "failed"),
    ("objects", "objects"),
    ("top_classes", "top classes (predicted)"),
    ("unclassified", "unclassified"),
    ("push", "push"),
    ("in_ecotaxa", "in EcoTaxa"),
    ("predicted_in_ecotaxa", "of which P"),
)


def print_samples(samples: list[dict[str, Any]]) -> None:
    cells = [
        [str(s[name]) + (" (closed)" if name == "push" and s["closed"] else "") for name, _ in SAMPLE_COLUMNS]
        for s in samples
    ]
    titles = [title for _, title in SAMPLE_COLUMNS]
    widths = [max(len(t), *(len(c[i]) for c in cells)) for i, t in enumerate(titles)]
    print("\nsamples")
    print("  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def write_outputs(out_dir: Path, rows: list[dict[str, str]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    lines = ["| image | profile | outcome |", "|---|---|---|"]
    lines += [f"| {r['image']} | {r['profile']} | {r['outcome'].replace('|', '/')} |" for r in rows]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")


def write_sample_outputs(out_dir: Path, samples: list[dict[str, Any]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "samples.json").write_text(json.dumps(samples, indent=2, ensure_ascii=False) + "\n")
    names = list(samples[0]) if samples else []
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(s[n]).replace("|", "/") for n in names) + " |" for s in samples]
    (out_dir / "samples.md").write_text("\n".join(lines) + "\n")


def draw_pictures(out_dir: Path, uploads: dict[Where, Sample], seen: Observed, repository: Path) -> None:
    """Segmented scans with their regions drawn, and a contact sheet of the classified particles."""
    labels = (repository / "plankton_classifier" / "labels.txt").read_text().split()
    annotated = out_dir / "annotated"
    annotated.mkdir(parents=True, exist_ok=True)
    sheet: list[tuple[Path, str]] = []
    for where, image in uploads.items():
        result = seen.results.get(where)
        if result is None:
            continue
        if result.get("regions"):
            name = where[1].replace("/", "__").rsplit(".", 1)[0] + ".png"
            annotate(image.path, result, labels).save(annotated / name)
        elif result.get("classification"):
            c = result["classification"]
            sheet.append((image.path, f"{c['label']} {c['score']:.2f}"))
    if sheet:
        contact_sheet(sheet).save(out_dir / "contact-sheet.png")


def copy_previews(stack: NativeStack, seen: Observed, folder: Path) -> list[Path]:
    """A few annotated previews as inference wrote them to the output bucket: one per sample, scans first."""
    assert stack.s3 is not None
    s3 = stack.s3.client()
    first_of_sample: dict[str, dict[str, Any]] = {}
    for result in sorted(seen.results.values(), key=lambda r: r["object"]["key"]):
        if result.get("preview_key"):
            first_of_sample.setdefault(str(result.get("sample_id")), result)
    ordered = sorted(first_of_sample.values(), key=lambda r: (not r.get("regions"), r["object"]["key"]))
    chosen = ordered[:PREVIEWS_KEPT]
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for result in chosen:
        body = s3.get_object(Bucket=result["output_bucket"], Key=result["preview_key"])["Body"].read()
        path = folder / (result["object"]["key"].replace("/", "__").rsplit(".", 1)[0] + ".png")
        path.write_bytes(body)
        copied.append(path)
    return copied


def print_mongo(stack: NativeStack) -> None:
    if stack.mongo is None:
        print("MongoDB: the server at MONGODB_URL (database aquaflow) keeps the results.")
        return
    data = stack.config.workdir / "mongo"
    print(
        f"MongoDB ({stack.mongo.kind}) answered at {stack.mongo.url} (database aquaflow, collections results and "
        f"samples). The data stays in {data}: to read it again, run\n"
        f"  .venv/bin/secantusd-py --storage-path {data} --port 27017\n"
        f"and connect to mongodb://127.0.0.1:27017/"
    )


def main() -> None:
    # moto's S3 server logs every request through werkzeug: keep the progress bars readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "demo")
    parser.add_argument("--limit", type=int, default=None, help="upload only the first N images")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for every upload to settle and every push"
    )
    args = parser.parse_args()
    try:
        code = asyncio.run(run(args.out, args.limit, args.timeout))
    except (RabbitUnavailable, TritonUnavailable, TritonStartError, MongoUnavailable, S3Unavailable) as error:
        print(missing_part_help(error), file=sys.stderr)
        code = 2
    raise SystemExit(code)


# What a fresh machine lacks, and how to get it (README, "Prerequisites").
_HOW_TO_GET: dict[type[Exception], str] = {
    RabbitUnavailable: (
        "Install and start RabbitMQ (Debian/Ubuntu: `sudo apt-get install rabbitmq-server`), "
        "or set AQUAFLOW_TEST_BROKER_URL to a broker you have, or run a Docker engine for the official image."
    ),
    TritonUnavailable: (
        "Run `make venv` again: the Triton binary comes inside the nvidia-pytriton wheel (Linux x86_64)."
    ),
    TritonStartError: "Triton is installed but did not start; its log above says why (a model that fails to load?).",
    MongoUnavailable: "Run `make venv` again (it installs the SecantusDB server), or set MONGODB_URL to a MongoDB.",
    S3Unavailable: "Run `make venv` again (it installs moto's S3 server), or set AQUAFLOW_TEST_S3_URL to an S3 server.",
}


def missing_part_help(error: Exception) -> str:
    how = next((text for kind, text in _HOW_TO_GET.items() if isinstance(error, kind)), "")
    return f"make demo cannot start: {error}\n{how}"


if __name__ == "__main__":
    main()
