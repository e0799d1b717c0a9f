"""The HTTP layer: EcoTaxa's routes (py/main.py), thin over the store and the import job.

Errors are {"detail": ...} with EcoTaxa's status codes: no credentials 403 "Not authenticated",
a bad token 401 "Could not validate credentials", no right 403 "You can't do this.",
an unknown project/job 404 "Not found.".
"""

import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from .files import Forbidden, store_upload
from .importer import ImportPlan, now, run_after_reply, run_validation, set_result
from .store import Job, Project, Store


class LoginReq(BaseModel):
    username: str
    password: str


class ImportReq(BaseModel):
    """py/API_models/imports.py"""

    source_path: str
    taxo_mappings: dict[str, str] = {}
    skip_loaded_files: bool = False
    skip_existing_objects: bool = False
    update_mode: str = ""


def forbidden() -> HTTPException:
    return HTTPException(status_code=403, detail="You can't do this.")


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="Not found.")


def create_ecotaxa_app(  # noqa: PLR0915 - one closure per EcoTaxa route, sharing the store
    store: Store, workdir: Path, common_folder: Path | None = None
) -> FastAPI:
    """An EcoTaxa API over ``store``; uploads and job scratch space live under ``workdir``."""
    plans: dict[int, ImportPlan] = {}
    router = APIRouter()

    def token_of(request: Request) -> str:
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return param
        cookie = request.cookies.get("session")
        if cookie is not None:
            return cookie
        raise HTTPException(status_code=403, detail="Not authenticated")

    def current_user(token: Annotated[str, Depends(token_of)]) -> int:
        user_id = store.tokens.get(token)
        if user_id is None:
            raise HTTPException(
                status_code=401, detail="Could not validate credentials", headers={"WWW-Authenticate": "Bearer"}
            )
        return user_id

    def optional_user(request: Request) -> int | None:
        scheme, _, param = request.headers.get("Authorization", "").partition(" ")
        return store.tokens.get(param) if scheme.lower() == "bearer" else None

    def user_dir(user_id: int) -> Path:
        return workdir / "user_files" / str(user_id)

    def readable_project(project_id: int, user_id: int | None) -> Project:
        project = store.projects.get(project_id)
        if project is None:
            raise not_found()
        name = store.user_by_id(user_id).name if user_id is not None else None
        if name not in project.writers and name not in project.viewers:
            raise forbidden()
        return project

    @router.post("/login")
    def login(params: Annotated[LoginReq, Body()]) -> str:
        token = store.login(params.username, params.password)
        if token is None:
            raise forbidden()
        return token

    @router.post("/user_files/")
    async def put_user_file(
        file: Annotated[UploadFile, File()],
        user_id: Annotated[int, Depends(current_user)],
        path: Annotated[str | None, Form()] = None,
    ) -> str:
        data = await file.read()
        try:
            stored = store_upload(user_dir(user_id), file.filename or "", path, data)
        except Forbidden as error:
            raise HTTPException(status_code=422, detail=str(error)) from error
        except zipfile.BadZipFile as error:
            raise HTTPException(status_code=422, detail="Invalid zip file") from error
        return str(stored)

    @router.post("/file_import/{project_id}")
    def import_file(
        project_id: int, params: Annotated[ImportReq, Body()], user_id: Annotated[int, Depends(current_user)]
    ) -> dict[str, Any]:
        project = store.projects.get(project_id)
        if project is None:
            raise not_found()
        if store.user_by_id(user_id).name not in project.writers:
            raise forbidden()
        with store.lock:
            job = Job(store.next_id("job"), user_id, project_id, params.model_dump())
            job.creation_date = job.updated_on = now()
            store.jobs[job.id] = job
        threading.Thread(target=_start, args=(job, params), daemon=True, name=f"ecotaxa-job-{job.id}").start()
        return {"job_id": job.id, "errors": []}

    def _start(job: Job, params: ImportReq) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=workdir))
        source = _resolve_source(params.source_path, job.owner_id, scratch)
        if source is None:
            with store.lock:
                set_result(job, [f"Source path not found: {params.source_path}"], {})
            return
        run_validation(store, job, plans, source, scratch)

    def _resolve_source(source_path: str, user_id: int, scratch: Path) -> Path | None:
        if ".." in source_path:
            return None
        candidates = [user_dir(user_id) / source_path.lstrip("/")]
        if common_folder is not None:
            candidates.append(common_folder / source_path.lstrip("/"))
        for candidate in candidates:
            if candidate.is_dir():
                return candidate
            if candidate.is_file() and candidate.suffix.lower() == ".zip":
                unzipped = scratch / "unzipped"
                with zipfile.ZipFile(candidate) as opened:
                    opened.extractall(unzipped)
                return unzipped
        return None

    def owned_job(job_id: int, user_id: int) -> Job:
        job = store.jobs.get(job_id)
        if job is None:
            raise not_found()
        if job.owner_id != user_id:
            raise forbidden()
        return job

    @router.get("/jobs/{job_id}/")
    def get_job(job_id: int, user_id: Annotated[int, Depends(current_user)]) -> dict[str, Any]:
        with store.lock:
            return owned_job(job_id, user_id).as_json()

    @router.post("/jobs/{job_id}/answer")
    def reply_job_question(
        job_id: int,
        user_id: Annotated[int, Depends(current_user)],
        reply: Annotated[dict[str, Any], Body()] = {},  # noqa: B006 - FastAPI body default, never mutated
    ) -> None:
        with store.lock:
            job = owned_job(job_id, user_id)
            if job.state != "A":
                raise HTTPException(status_code=422, detail="Job is not waiting for an answer")
            job.reply = reply
            job.state, job.progress_msg, job.question = "P", "Proceeding", {}
        threading.Thread(target=run_after_reply, args=(store, job, plans), daemon=True).start()

    @router.get("/jobs/{job_id}/log")
    def get_job_log_file(job_id: int, user_id: Annotated[int, Depends(current_user)]) -> PlainTextResponse:
        with store.lock:
            job = owned_job(job_id, user_id)
            lines = [f"{job.updated_on} state={job.state} {job.progress_msg}", *job.errors]
        return PlainTextResponse("\n".join(lines) + "\n")

    @router.post("/object_set/{project_id}/query")
    def get_object_set(  # noqa: PLR0917 - FastAPI passes path, body and query parameters by name
        project_id: int,
        request: Request,
        filters: Annotated[dict[str, Any], Body()],
        fields: Annotated[str | None, Query()] = None,
        order_field: Annotated[str | None, Query()] = None,
        window_start: Annotated[int | None, Query()] = None,
        window_size: Annotated[int | None, Query()] = None,
    ) -> dict[str, Any]:
        with store.lock:
            project = readable_project(project_id, optional_user(request))
            objects = sorted(project.objects.values(), key=lambda o: o["objid"])
            wanted = fields.split(",") if fields else []
            if order_field:
                reverse = order_field.startswith("-")
                key = order_field.lstrip("-")
                objects.sort(
                    key=lambda o: (_field(store, project, o, key) is None, str(_field(store, project, o, key)))
                )
                if reverse:
                    objects.reverse()
            total = len(objects)
            start = window_start or 0
            objects = objects[start : start + window_size if window_size is not None else None]
            return {
                "object_ids": [o["objid"] for o in objects],
                "acquisition_ids": [o["acquisid"] for o in objects],
                "sample_ids": [o["sampleid"] for o in objects],
                "project_ids": [project.id for _ in objects],
                "details": [[_field(store, project, o, f) for f in wanted] for o in objects],
                "total_ids": total,
            }

    @router.get("/object/{object_id}")
    def object_query(object_id: int, request: Request) -> dict[str, Any]:
        with store.lock:
            found = store.find_object(object_id)
            if found is None:
                raise HTTPException(status_code=404, detail="Object not found")
            project, obj = found
            readable_project(project.id, optional_user(request))
            return _object_model(store, obj)

    app = FastAPI(title="EcoTaxa stand-in")
    # EcoTaxa answers both under /api and at the root (py/main.py mounts the app on /api).
    app.include_router(router, prefix="/api")
    app.include_router(router)
    return app


_OBJECT_FIELDS = (
    "objid", "acquisid", "classif_id", "objdate", "objtime", "latitude", "longitude", "depth_min", "depth_max",
    "classif_qual", "classif_who", "classif_date", "orig_id", "object_link", "complement_info",
)  # fmt: skip


def _object_model(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of EcoTaxa's ObjectModel that the stand-in knows (py/API_models/objects.py)."""
    return {
        **{name: obj.get(name) for name in _OBJECT_FIELDS},
        "classif_when": obj.get("classif_date") if obj.get("classif_qual") in ("V", "D", "X") else None,
        "classif_auto_id": obj.get("classif_id") if obj.get("classif_qual") == "P" else None,
        "classif_auto_when": obj.get("classif_date") if obj.get("classif_qual") == "P" else None,
        "sample_id": obj["sampleid"],
        "project_id": obj["project_id"],
        "images": [dict(image) for image in obj["images"]],
        "free_columns": dict(obj["free_columns"]),
    }


def _field(store: Store, project: Project, obj: dict[str, Any], name: str) -> Any:  # noqa: PLR0911 - one per prefix
    """A 'prefix.field' of EcoTaxa's object_set query: obj., fre., img., txo., sam., acq."""
    prefix, _, field = name.partition(".")
    if prefix == "obj":
        return obj.get(field)
    if prefix == "fre":
        return obj["free_columns"].get(field)
    if prefix == "img":
        images = sorted(obj["images"], key=lambda i: i["imgrank"])
        return images[0].get(field) if images else None
    if prefix == "txo" and field in ("name", "display_name"):
        return store.taxonomy.name_of(obj.get("classif_id"))
    if prefix == "sam" and field == "orig_id":
        return obj["sample_orig_id"]
    if prefix == "acq" and field == "orig_id":
        return obj["acq_orig_id"]
    return None
