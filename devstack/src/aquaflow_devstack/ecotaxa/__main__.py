"""python -m aquaflow_devstack.ecotaxa --port 8010 [--user NAME:PASSWORD] [--project ID:USER[,USER]]"""

from __future__ import annotations

import argparse
import threading

from .server import start_ecotaxa


def main() -> None:
    parser = argparse.ArgumentParser(description="EcoTaxa stand-in server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (default user:password)")
    parser.add_argument("--project", action="append", default=[], help="ID:USER[,USER] (default 1:<first user>)")
    args = parser.parse_args()
    users = dict(item.split(":", 1) for item in args.user) or {"user": "password"}
    projects = {int(pid): users_.split(",") for pid, users_ in (item.split(":", 1) for item in args.project)}
    server = start_ecotaxa(users, projects or {1: [next(iter(users))]}, host=args.host, port=args.port)
    print(f"EcoTaxa stand-in on {server.url}/api", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
