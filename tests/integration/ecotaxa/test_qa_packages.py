"""EcoTaxa's own QA import packages, through the stand-in's HTTP API, with the outcomes EcoTaxa's
QA tests (ecotaxa_back QA/py/tests/test_import.py) assert: upload, import, poll to the end state."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aquaflow_devstack.ecotaxa import EcoTaxaServer, start_ecotaxa
from aquaflow_devstack.samples import sample_root

pytestmark = pytest.mark.integration

QA = sample_root()

# The taxa of EcoTaxa's QA database that the packages use; 'other' and 'ozzeur' are unknown there,
# and 'part' names several taxa (ambiguous), as in that database.
QA_TAXA: dict[str, int] = {
    **{f"qa{taxon_id}": taxon_id for taxon_id in (142, 1100, 45072, 78418, 84963, 85011, 85012, 85078, 92731)},
    "Cyclopoida": 1, "Micrococcineae": 2, "Oncaeidae": 3, "other<Biota": 4, "Pilimelia": 5,
    "other<living": 13, "Solenicola setigera": 6, "detritus": 7, "egg<other": 8, "small<egg": 9, "t001": 10,
    "part<cnidaria": 11, "part<siphonophorae": 12,
}  # fmt: skip
TSV_ISSUES_ERRORS = [
    "In [base]/ecotaxa_m106_mn01_n3_sml.tsv:",
    " - Invalid Header 'nounderscorecol'. Format must be Table_Field.",
    " - Invalid Header 'unknown_target'. Unknown table prefix 'unknown'.",
    " - Invalid Type '[H]' for field 'object_wrongtype'.",
    " - line 3: Invalid float value 'a' for field 'object_buggy_float'.",
    " - line 3: Invalid Lat. value '100' for field 'object_lat'. Correct range is -90/+90°.",
    " - line 3: Invalid Long. value '200' for field 'object_lon'. Correct range is -180/+180°.",
    " - line 3: Invalid Date value '20140433' for field 'object_date'.",
    " - line 3: Invalid Time value '9920' for field 'object_time'.",
    " - line 3: Invalid Annotation Status 'predit' for field 'object_annotation_status'.",
    " - line 5: Invalid Date value '2015-11-31' for field 'object_annotation_date'.",
    " - line 5: Invalid Time value '5:31' for field 'object_annotation_time'.",
    " - line 6: Missing Image 'm106_mn01_n3_sml_1081.jpg2'.",
    " - line 7: Error while reading image 'm106_mn01_n3_sml_corrupted_image.jpg': cannot identify image file "
    "'.../m106_mn01_n3_sml_corrupted_image.jpg' <class 'PIL.UnidentifiedImageError'>",
    " - line 8: Missing object_id.",
    " - line 8: Missing Image 'nada.png'.",
]
TOO_MANY_COLUMNS_ERRORS = ["In [base]/ecotaxa_m106_mn01_n3_sml.tsv:"] + [
    f" - Field {prefix}_cus{n} cannot be mapped. Too many custom fields, or bad type."
    for prefix, last in (("sample", 61), ("process", 31), ("acq", 31))
    for n in range(last - 2, last + 1)
]

# package (relative to the QA folder) -> expected end state and, where EcoTaxa's QA pins them, errors
# or question. "A" packages are answered (users -> 1, taxa -> 1) and must then finish.
CASES: dict[str, tuple[str, Any]] = {
    "import_test.zip": ("A", None),
    "import_test": ("A", {"missing_users": ["admin4test", "elizandro rodriguez"],
                          "missing_taxa": ["other", "ozzeur"]}),
    "UVP6_example.zip": ("F", None),
    "import_uvp6_zip_in_dir": ("F", None),
    "import_v_or_d_just_state": ("F", None),
    "import_bad_free_data": ("A", None),
    "import_test_weird": ("A", None),
    "import_just_predicted": ("A", None),
    "import_various_states": ("A", {"missing_users": ["elizandro rodriguez"], "missing_taxa": []}),
    "import de categories ambigues": ("A", {"missing_users": [],
                                            "missing_taxa": ["part (annelida)", "part"]}),
    "import_sparse": ("E", [
        "In [base]/ecotaxa_20160719B-163000ish-HealyVPR08-2016_d200_h18_roi.tsv:",
        " - Field acq_id is mandatory as there are some acq columns: "
        "['acq_hardware', 'acq_imgtype', 'acq_instrument'].",
        " - Field sample_id is mandatory as there are some sample columns: "
        "['sample_program', 'sample_ship', 'sample_stationid'].",
    ]),
    "import_issues/tsv_issues": ("E", TSV_ISSUES_ERRORS),
    "import_issues/no_classif_id": ("E", [
        "Some specified classif_id don't exist, correct them prior to reload: 99999999"]),
    "import_issues/predicted_but_what": ("E", [
        "In [base]/m106_mn01_n3_sml/ecotaxa_m106_mn01_n3_sml_pls.tsv:",
        " - line 3: When annotation status 'predicted' is provided there has to be a category.",
    ]),
    "import_issues/classif_without_state": ("E", [
        "In [base]/m106_mn01_n3_sml/ecotaxa_m106_mn01_n3_sml_pls.tsv:",
        " - line 3: When a category (84963) is provided it has to be with a status.",
    ]),
    "import_issues/extra_data_without_header": ("E", [
        "In [base]/ecotaxa_m106_mn04_n1_sml.tsv:",
        " - line 3: Value(s) ['Extra', 'Extra2'] must not be in a header-less column.",
    ]),
    "import_issues/tsv_too_many_cols": ("E", TOO_MANY_COLUMNS_ERRORS),
    "import_issues/duplicate_in_tsv": ("E", [
        "In [base]/m106_mn01_n3_sml/ecotaxa_m106_mn01_n3_sml_pls.tsv:",
        " - line 4: (Object 'm106_mn01_n3_sml_1120', Image 'm106_mn01_n3_sml_1111.jpg') is already in this TSV line 3.",
    ]),
    "import_issues/empty_tsv": ("E", 1),
    "import_issues/empty_tsv2": ("E", 1),
    "import_issues/no_relevant_file": ("E", 1),
    # Not in EcoTaxa's QA tests: corrupted images and a missing TIFF, which its rules reject.
    "import_issues/corrupted_img": ("E", None),
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[EcoTaxaServer]:
    running = start_ecotaxa(
        users={"admin": "secret", "other": "secret2"}, projects={1: ["admin"], 2: ["other"]}, taxa=QA_TAXA
    )
    yield running
    running.stop()


@pytest.fixture
def client(server: EcoTaxaServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/api", timeout=30) as plain:
        token = plain.post("/login", json={"username": "admin", "password": "secret"}).json()
    with httpx.Client(base_url=server.url + "/api", headers={"Authorization": f"Bearer {token}"}, timeout=30) as authed:
        yield authed


def upload(client: httpx.Client, package: str) -> str:
    """Upload a QA package as one zip (a folder is zipped first); returns the folder to import."""
    source = QA / package
    name = package.replace("/", "_").replace(" ", "_")
    if source.is_file():
        data, name = source.read_bytes(), source.stem
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(source.rglob("*")):
                archive.write(path, path.relative_to(source).as_posix())
        data = buffer.getvalue()
    response = client.post("/user_files/", files={"file": (f"{name}.zip", data)})
    assert response.status_code == 200, response.text
    assert response.json().endswith(f"{name}.zip")
    return name


def wait_for_job(client: httpx.Client, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the job until it stops running (F, E or A), with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}/").json()
        if job["state"] in ("F", "E", "A"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
        time.sleep(0.05)


def run_import(client: httpx.Client, folder: str, project: int = 1, **options: Any) -> dict[str, Any]:
    response = client.post(f"/file_import/{project}", json={"source_path": folder, **options})
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []
    return wait_for_job(client, response.json()["job_id"])


def answer_and_finish(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    question = job["question"]
    reply = {"users": dict.fromkeys(question["missing_users"], 1), "taxa": dict.fromkeys(question["missing_taxa"], 1)}
    assert client.post(f"/jobs/{job['id']}/answer", json=reply).status_code == 200
    return wait_for_job(client, job["id"])


@pytest.mark.parametrize("package", list(CASES))
def test_qa_package_outcome_matches_ecotaxa(client: httpx.Client, server: EcoTaxaServer, package: str) -> None:
    state, expected = CASES[package]
    job = run_import(client, upload(client, package))
    assert job["state"] == state, job
    if state == "E":
        assert job["progress_msg"] == f"{len(job['errors'])} error(s) during run"
        if isinstance(expected, int):
            assert len(job["errors"]) == expected, job["errors"]
        elif expected is not None:
            assert job["errors"] == expected
        assert server.objects(1) == []
        return
    if state == "A":
        assert job["progress_msg"] == "Some users or taxonomic references could not be matched"
        if expected is not None:
            assert job["question"] == expected
        job = answer_and_finish(client, job)
    assert (job["state"], job["progress_pct"], job["progress_msg"]) == ("F", 100, "Done"), job
    assert job["result"]["rowcount"] > 0
    assert len(server.objects(1)) > 0


def test_uvp6_archive_gives_fifteen_objects(client: httpx.Client, server: EcoTaxaServer) -> None:
    job = run_import(client, upload(client, "UVP6_example.zip"))
    assert job["state"] == "F", job
    assert len(server.objects(1)) == 15


def test_reimport_skipping_existing_objects_adds_nothing(client: httpx.Client, server: EcoTaxaServer) -> None:
    folder = upload(client, "import_test")
    first = answer_and_finish(client, run_import(client, folder))
    assert first["state"] == "F"
    before = server.objects(1)
    again = run_import(client, folder, skip_existing_objects=True)
    again = answer_and_finish(client, again) if again["state"] == "A" else again
    assert again["state"] == "F", again
    assert server.objects(1) == before


def test_reimport_without_skipping_is_refused_per_object(client: httpx.Client, server: EcoTaxaServer) -> None:
    folder = upload(client, "import_test")
    assert answer_and_finish(client, run_import(client, folder))["state"] == "F"
    job = run_import(client, folder)
    assert job["state"] == "E"
    # EcoTaxa's QA: 11 objects of import_test are reported "already in EcoTaxa"
    assert len([error for error in job["errors"] if "already in EcoTaxa" in error]) == 11


def test_reimport_skipping_loaded_files_reports_it(client: httpx.Client) -> None:
    folder = upload(client, "import_test")
    assert answer_and_finish(client, run_import(client, folder))["state"] == "F"
    job = run_import(client, folder, skip_loaded_files=True, skip_existing_objects=True)
    assert job["state"] == "E"
    assert any("all TSV files were imported before" in error for error in job["errors"])


def test_breaking_the_sample_hierarchy_is_refused(client: httpx.Client) -> None:
    assert answer_and_finish(client, run_import(client, upload(client, "import_test")))["state"] == "F"
    job = run_import(client, upload(client, "import_issues/breaking_hierarchy"))
    assert job["errors"] == [
        "Acquisition 'generic_m106_mn01_n1_sml' is already associated with sample "
        "'{'m106_mn01_n1_sml'}', it cannot be associated as well with 'm106_mn01_n1_sml_brk"
    ]


def test_imported_objects_read_back_through_the_api(client: httpx.Client, server: EcoTaxaServer) -> None:
    assert run_import(client, upload(client, "import_v_or_d_just_state"))["state"] == "F"
    query = client.post(
        "/object_set/1/query", json={}, params={"fields": "obj.orig_id,obj.classif_qual,img.orig_file_name"}
    )
    assert query.status_code == 200
    body = query.json()
    assert body["total_ids"] == len(body["object_ids"]) == len(server.objects(1))
    obj = client.get(f"/object/{body['object_ids'][0]}").json()
    assert obj["orig_id"] == body["details"][0][0]
    assert obj["images"][0]["orig_file_name"] == body["details"][0][2]
    stored = server.objects(1)[0]
    assert stored["orig_id"] == obj["orig_id"]
    assert stored["status"] == obj["classif_qual"]


def test_access_rules(server: EcoTaxaServer, client: httpx.Client) -> None:
    with httpx.Client(base_url=server.url + "/api") as anonymous:
        assert anonymous.post("/file_import/1", json={"source_path": "x"}).json() == {"detail": "Not authenticated"}
        bad = anonymous.get("/jobs/1/", headers={"Authorization": "Bearer nope"})
        assert (bad.status_code, bad.json()) == (401, {"detail": "Could not validate credentials"})
        assert anonymous.post("/login", json={"username": "admin", "password": "wrong"}).status_code == 403
    assert client.post("/file_import/2", json={"source_path": "x"}).status_code == 403
    assert client.post("/file_import/99", json={"source_path": "x"}).status_code == 404


def test_import_test_plus_after_import_test_skipping_loaded(client: httpx.Client, server: EcoTaxaServer) -> None:
    """EcoTaxa's QA imports import_test_plus after import_test, skipping loaded TSVs and objects:
    its n1 and n2 TSVs come without images and are skipped, only n3 is new."""
    assert answer_and_finish(client, run_import(client, upload(client, "import_test")))["state"] == "F"
    before = len(server.objects(1))
    job = run_import(client, upload(client, "import_test_plus"), skip_loaded_files=True, skip_existing_objects=True)
    job = answer_and_finish(client, job) if job["state"] == "A" else job
    assert job["state"] == "F", job
    assert len(server.objects(1)) > before
