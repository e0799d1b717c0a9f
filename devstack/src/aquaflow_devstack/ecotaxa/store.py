"""The stand-in's state, in memory: users, tokens, projects with their objects, jobs."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .mapping import ProjectMapping
from .taxonomy import Taxonomy


@dataclass
class User:
    id: int
    name: str
    password: str


@dataclass
class Project:
    id: int
    title: str
    # user names allowed to import (managers and annotators in EcoTaxa's terms)
    writers: set[str]
    viewers: set[str] = field(default_factory=set)
    mapping: ProjectMapping = field(default_factory=ProjectMapping)
    # orig_id -> stored object
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # sample orig_id -> free fields; (sample, acquisition) orig ids -> free fields
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    acquisitions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    loaded_files: set[str] = field(default_factory=set)


@dataclass
class Job:
    id: int
    owner_id: int
    project_id: int
    params: dict[str, Any]
    state: str = "P"
    progress_pct: int = 0
    progress_msg: str = "Waiting for a slot"
    errors: list[str] = field(default_factory=list)
    question: dict[str, Any] = field(default_factory=dict)
    reply: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    inside: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    creation_date: str = ""
    updated_on: str = ""

    def as_json(self) -> dict[str, Any]:
        """The fields of EcoTaxa's JobModel (py/API_models/crud.py)."""
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "type": "FileImport",
            "params": self.params,
            "state": self.state,
            "step": None,
            "progress_pct": self.progress_pct,
            "progress_msg": self.progress_msg,
            "creation_date": self.creation_date,
            "updated_on": self.updated_on,
            "inside": self.inside,
            "question": self.question,
            "reply": self.reply,
            "result": self.result,
            "errors": self.errors,
        }


ProjectSpec = Iterable[str] | Mapping[str, Any]


class Store:
    """Everything the stand-in knows; one lock guards it, as jobs run in threads."""

    def __init__(
        self,
        users: Mapping[str, str],
        projects: Mapping[int, ProjectSpec],
        taxa: Mapping[str, int],
    ) -> None:
        self.lock = threading.RLock()
        self.users = {name: User(index, name, password) for index, (name, password) in enumerate(users.items(), 1)}
        self.tokens: dict[str, int] = {}
        self.projects = {pid: _project(pid, spec) for pid, spec in projects.items()}
        self.taxonomy = Taxonomy(taxa)
        self.jobs: dict[int, Job] = {}
        self._next_ids = {"job": 1, "object": 1, "image": 1, "sample": 1, "acquisition": 1}

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._next_ids[kind]
            self._next_ids[kind] = value + 1
            return value

    def login(self, name: str, password: str) -> str | None:
        user = next((u for u in self.users.values() if u.name.lower() == name.lower()), None)
        if user is None or not secrets.compare_digest(user.password, password):
            return None
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user.id
        return token

    def user_by_id(self, user_id: int) -> User:
        return next(u for u in self.users.values() if u.id == user_id)

    def find_user(self, name_or_email: str) -> int | None:
        return next((u.id for u in self.users.values() if u.name.lower() == name_or_email.lower()), None)

    def find_object(self, objid: int) -> tuple[Project, dict[str, Any]] | None:
        for project in self.projects.values():
            for obj in project.objects.values():
                if obj["objid"] == objid:
                    return project, obj
        return None


def _project(project_id: int, spec: ProjectSpec) -> Project:
    if isinstance(spec, Mapping):
        writers = {*spec.get("managers", ()), *spec.get("annotators", ())}
        return Project(
            project_id, str(spec.get("title", f"Project {project_id}")), writers, set(spec.get("viewers", ()))
        )
    return Project(project_id, f"Project {project_id}", set(spec))
