"""`make demo`: the main job on one machine, from upload to stored result.

Starts the native stack, uploads the real plankton images (the corrupted ones
included) into two watched buckets, announces them as MinIO would, waits with a
progress bar until every upload has a stored result or a dead letter, prints a
table, writes it to ``out/demo/`` with pictures (regions drawn on the segmented
scans, a labelled contact sheet), and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aquaflow_devstack.observe import ObservedDeadLetter, stored_results, take_dead_letters
from aquaflow_devstack.pictures import annotate, contact_sheet
from aquaflow_devstack.rabbitmq import delete_topology
from aquaflow_devstack.samples import Sample, real_images
from aquaflow_devstack.stack import REPO_ROOT, NativeStack, StackConfig

TENANT = "lov"
# ZooScan-style runs go through segmentation; everything else is one particle per image.
ZOOSCAN_FOLDERS = ("import_test/", "import_update/")


def bucket_for(sample: Sample) -> str:
    return "plankton-zooscan" if sample.key.startswith(ZOOSCAN_FOLDERS) else "plankton-flowcam"


def describe(result: dict[str, Any]) -> str:
    if result.get("classification"):
        c = result["classification"]
        return f"{c['label']} ({c['score']:.2f})"
    if result.get("regions"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.get("counts", {}).items()))
        return f"{len(result['regions'])} regions: {counts}"
    return json.dumps(result.get("summary", {}))


async def run(out_dir: Path, limit: int | None, settle_seconds: float) -> int:
    samples = real_images()[:limit] if limit else real_images()
    prefix = f"aquaflow-demo-{uuid.uuid4().hex[:6]}"
    config = StackConfig(
        prefix=prefix,
        workdir=REPO_ROOT / "build" / "demo",
        buckets={"plankton-flowcam": TENANT, "plankton-zooscan": TENANT},
        mongodb_url=os.environ.get("MONGODB_URL"),
    )
    stack = NativeStack(config)
    with tqdm(total=6, desc="starting", unit="part") as bar:

        def advance(part: str) -> None:
            bar.set_description(f"starting {part}")
            bar.update(1)

        stack.start(progress=advance)
    try:
        events = [stack.upload(bucket_for(s), s.key, s.path.read_bytes()) for s in samples]
        await stack.notify(events)
        pending = {(bucket_for(s), s.key) for s in samples}
        results: dict[tuple[str, str], dict[str, Any]] = {}
        dead: dict[tuple[str, str], ObservedDeadLetter] = {}
        deadline = time.monotonic() + settle_seconds
        with tqdm(total=len(pending), desc="uploads settled", unit="image") as bar:
            while pending and time.monotonic() < deadline:
                for result in await stored_results(stack.results_url, tenant=TENANT):
                    where = (result["object"]["bucket"], result["object"]["key"])
                    results.setdefault(where, result)
                for letter in await take_dead_letters(config.broker_url, stack.topology.dead_letter_queue.name):
                    dead.setdefault((letter.bucket, letter.key), letter)
                settled = {w for w in pending if w in results or w in dead}
                bar.update(len(settled))
                pending -= settled
                await asyncio.sleep(0.5)
        rows = table_rows(samples, results, dead)
        write_outputs(out_dir, rows)
        draw_pictures(out_dir, samples, results, config.model_repository)
        print_table(rows)
        print(f"\n{len(results)} results stored, {len(dead)} dead letters, {len(pending)} unsettled; see {out_dir}")
        return 0 if not pending else 1
    finally:
        stack.stop()
        await delete_topology(config.broker_url, prefix, config.models)


def table_rows(
    samples: list[Sample],
    results: dict[tuple[str, str], dict[str, Any]],
    dead: dict[tuple[str, str], ObservedDeadLetter],
) -> list[dict[str, str]]:
    rows = []
    for sample in samples:
        where = (bucket_for(sample), sample.key)
        if where in results:
            result = results[where]
            rows.append({"image": sample.key, "profile": result["profile"], "outcome": describe(result)})
        elif where in dead:
            letter = dead[where]
            rows.append(
                {"image": sample.key, "profile": "-", "outcome": f"DEAD LETTER ({letter.stage}): {letter.reason}"}
            )
        else:
            rows.append({"image": sample.key, "profile": "-", "outcome": "no outcome before the deadline"})
    return rows


def print_table(rows: list[dict[str, str]]) -> None:
    width = min(max(len(r["image"]) for r in rows), 70)
    print(f"\n{'image':<{width}}  {'profile':<8}  outcome")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for row in rows:
        print(f"{row['image'][-width:]:<{width}}  {row['profile']:<8}  {row['outcome']}")


def write_outputs(out_dir: Path, rows: list[dict[str, str]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    lines = ["| image | profile | outcome |", "|---|---|---|"]
    lines += [f"| {r['image']} | {r['profile']} | {r['outcome'].replace('|', '/')} |" for r in rows]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")


def draw_pictures(
    out_dir: Path, samples: list[Sample], results: dict[tuple[str, str], dict[str, Any]], repository: Path
) -> None:
    """Segmented scans with their regions drawn, and a contact sheet of the classified particles."""
    labels = (repository / "plankton_classifier" / "labels.txt").read_text().split()
    annotated = out_dir / "annotated"
    annotated.mkdir(parents=True, exist_ok=True)
    sheet: list[tuple[Path, str]] = []
    for sample in samples:
        result = results.get((bucket_for(sample), sample.key))
        if result is None:
            continue
        if result.get("regions"):
            name = sample.key.replace("/", "__").rsplit(".", 1)[0] + ".png"
            annotate(sample.path, result, labels).save(annotated / name)
        elif result.get("classification"):
            c = result["classification"]
            sheet.append((sample.path, f"{c['label']} {c['score']:.2f}"))
    if sheet:
        contact_sheet(sheet).save(out_dir / "contact-sheet.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "demo")
    parser.add_argument("--limit", type=int, default=None, help="upload only the first N images")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every upload to settle")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.out, args.limit, args.timeout)))


if __name__ == "__main__":
    main()
