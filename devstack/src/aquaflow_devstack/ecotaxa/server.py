"""Running the stand-in: uvicorn in a background thread, on a port of the caller's choice or a free one."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from .app import create_ecotaxa_app
from .store import ProjectSpec, Store
from .taxonomy import default_taxa

STARTUP_TIMEOUT_S = 20.0


class EcoTaxaServer:
    """A running stand-in. ``url`` is the root; the API is under ``url + "/api"``."""

    def __init__(self, store: Store, server: uvicorn.Server, thread: threading.Thread, url: str, workdir: Path) -> None:
        self.store = store
        self.url = url
        self._server = server
        self._thread = thread
        self._workdir = workdir

    def objects(self, project_id: int) -> list[dict[str, Any]]:
        """What was imported into a project, in import order, for assertions."""
        with self.store.lock:
            project = self.store.projects[project_id]
            result = []
            for obj in sorted(project.objects.values(), key=lambda o: o["objid"]):
                acquisition = project.acquisitions[(obj["sample_orig_id"], obj["acq_orig_id"])]
                result.append(
                    {
                        **{k: v for k, v in obj.items() if k not in ("images", "free_columns")},
                        "classif_name": self.store.taxonomy.name_of(obj["classif_id"]),
                        "status": obj["classif_qual"],
                        "fields": dict(obj["free_columns"]),
                        "sample_id": obj["sample_orig_id"],
                        "acq_id": obj["acq_orig_id"],
                        "process_id": acquisition["process_id"],
                        "sample_fields": {
                            k: v for k, v in project.samples[obj["sample_orig_id"]].items() if k != "sampleid"
                        },
                        "images": [
                            image["orig_file_name"] for image in sorted(obj["images"], key=lambda i: i["imgrank"])
                        ],
                    }
                )
            return result

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        shutil.rmtree(self._workdir, ignore_errors=True)


def start_ecotaxa(
    users: Mapping[str, str],
    projects: Mapping[int, ProjectSpec],
    taxa: Mapping[str, int] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    common_folder: Path | None = None,
) -> EcoTaxaServer:
    """Start the stand-in and return once it accepts connections."""
    store = Store(users, projects, taxa if taxa is not None else default_taxa())
    workdir = Path(tempfile.mkdtemp(prefix="ecotaxa-standin-"))
    app = create_ecotaxa_app(store, workdir, common_folder)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="ecotaxa-standin")
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the EcoTaxa stand-in did not start")
        time.sleep(0.02)  # waiting on a thread flag, bounded by the deadline above
    return EcoTaxaServer(store, server, thread, f"http://{host}:{bound_port}", workdir)
