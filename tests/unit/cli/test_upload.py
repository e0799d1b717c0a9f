"""What `aquaflow upload` puts where, and how it follows each upload to its result."""

from __future__ import annotations

from pathlib import Path

import pytest

from aquaflow_cli.errors import CliError, Exit
from aquaflow_cli.upload_plan import files_under, plan_uploads
from aquaflow_cli.upload_tracking import Uploaded, UploadState, by_sample, counts, exit_code, label_of, settled, track


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    (root / "sub").mkdir(parents=True)
    (root / "b.png").write_bytes(b"b" * 3)
    (root / "a.jpg").write_bytes(b"a")
    (root / "sub" / "c.png").write_bytes(b"cc")
    (root / ".DS_Store").write_bytes(b"x")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"x")
    return root


def test_files_keep_their_path_under_the_sample_folder(folder: Path) -> None:
    planned = plan_uploads(folder, files_under(folder), sample="fc_1")
    assert [(p.key, p.size, p.content_type, p.is_manifest) for p in planned] == [
        ("fc_1/a.jpg", 1, "image/jpeg", False),
        ("fc_1/b.png", 3, "image/png", False),
        ("fc_1/sub/c.png", 2, "image/png", False),
    ]
    assert [p.key for p in plan_uploads(folder, files_under(folder), sample=None, prefix="in/")] == [
        "in/a.jpg",
        "in/b.png",
        "in/sub/c.png",
    ]


def test_the_manifest_goes_first_under_its_standard_name(folder: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "run_0517.json"
    manifest.write_text('{"sample_id": "fc_1"}')
    planned = plan_uploads(folder, files_under(folder), sample="fc_1", manifest=manifest)
    assert (planned[0].key, planned[0].is_manifest) == ("fc_1/sample.json", True)
    tsv = tmp_path / "m.tsv"
    tsv.write_text("sample_id\n[t]\nfc_1\n")
    assert plan_uploads(folder, files_under(folder), sample="fc_1", manifest=tsv)[0].key == "fc_1/sample.tsv"


def test_a_manifest_found_in_the_folder_is_one_and_two_are_refused(folder: Path, tmp_path: Path) -> None:
    (folder / "sample.json").write_text("{}")
    planned = plan_uploads(folder, files_under(folder), sample="s")
    assert (planned[0].key, planned[0].is_manifest) == ("s/sample.json", True)
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(CliError, match="manifest too"):
        plan_uploads(folder, files_under(folder), sample="s", manifest=other)


def test_nothing_to_upload_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CliError) as empty:
        plan_uploads(tmp_path, files_under(tmp_path), sample=None)
    assert empty.value.code is Exit.USAGE
    with pytest.raises(CliError, match="not a folder"):
        files_under(tmp_path / "missing")


def result(key: str, etag: str, *, sample: str | None = "s1", label: str = "copepod") -> dict[str, object]:
    return {"id": f"r-{key}", "object": {"key": key, "etag": etag}, "sample_id": sample, "summary": {"label": label}}


def test_each_upload_is_stored_failed_or_pending_by_key_and_etag() -> None:
    uploads = [Uploaded("s1/a.png", '"e1"'), Uploaded("s1/b.png", "e2"), Uploaded("s1/c.png", "e3")]
    results = [result("s1/a.png", "e1"), result("s1/c.png", "OLD")]  # c's result is of another version
    failures = [
        {"object": {"key": "s1/b.png", "etag": "e2"}, "sample_id": "s1", "code": "corrupt_image", "reason": "bad"}
    ]
    tracked = track(uploads, results, failures, sample="s1")
    assert [(t.key, t.state) for t in tracked] == [
        ("s1/a.png", UploadState.STORED),
        ("s1/b.png", UploadState.FAILED),
        ("s1/c.png", UploadState.PENDING),
    ]
    assert (tracked[0].label, tracked[0].result_id) == ("copepod", "r-s1/a.png")
    assert (tracked[1].code, tracked[1].reason) == ("corrupt_image", "bad")
    assert counts(tracked).as_dict() == {"stored": 1, "failed": 1, "pending": 1, "total": 3}
    assert not settled(tracked)
    assert exit_code(tracked) is Exit.FAILED


def test_exit_code_says_whether_everything_was_stored() -> None:
    stored = track([Uploaded("a", "1")], [result("a", "1")], [])
    pending = track([Uploaded("a", "1")], [], [])
    assert (exit_code(stored), exit_code(pending)) == (Exit.OK, Exit.PENDING)
    assert settled(stored)


def test_the_summary_is_per_sample_with_the_most_frequent_labels() -> None:
    uploads = [Uploaded(f"k{i}", "e") for i in range(5)]
    results = [
        result("k0", "e", sample="s1", label="copepod"),
        result("k1", "e", sample="s1", label="copepod"),
        result("k2", "e", sample="s1", label="detritus"),
        result("k3", "e", sample=None, label="fish"),
    ]
    summaries = by_sample(track(uploads, results, []))
    assert [s.as_dict() for s in summaries] == [
        {"sample_id": "(no sample)", "stored": 1, "failed": 0, "pending": 1, "total": 2, "top_labels": {"fish": 1}},
        {
            "sample_id": "s1",
            "stored": 3,
            "failed": 0,
            "pending": 0,
            "total": 3,
            "top_labels": {"copepod": 2, "detritus": 1},
        },
    ]


def test_a_result_reads_as_its_label_its_regions_or_its_detections() -> None:
    assert label_of({"summary": {"label": "copepod", "top_region_label": "x"}}) == "copepod"
    assert label_of({"summary": {"regions": 4, "top_region_label": "detritus"}}) == "detritus"
    assert label_of({"summary": {"detections": 3}}) == "3 detections"
    assert label_of({"summary": {}}) is None
