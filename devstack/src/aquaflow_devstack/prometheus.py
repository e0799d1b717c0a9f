"""Prometheus for the native stack: the project's scrape configuration, pointed at the ports the stack picked.

``deploy/prometheus/prometheus.yml`` is what the product runs (docker compose): its jobs,
metrics paths, parameters and alert rules. ``native_config`` keeps all of that and
replaces only the targets: the services' HTTP ports, Triton's metrics port and the
machine's RabbitMQ metrics port (the ``rabbitmq_prometheus`` plugin, which
``ensure_rabbitmq_metrics`` enables when it is installed but off). ``start_prometheus``
runs Debian's ``prometheus`` binary on a free loopback port with that configuration;
``PrometheusServer`` answers PromQL through the HTTP API.

    python -m aquaflow_devstack.prometheus --service ingest=127.0.0.1:8011 \\
        --triton 127.0.0.1:8002 --out build/prometheus/prometheus.yml

writes such a configuration for services already running and prints the command that
serves it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aquaflow_devstack.ports import free_port, port_open
from aquaflow_devstack.processes import tail_of
from aquaflow_devstack.stack import REPO_ROOT, NativeStack

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERT_RULES = PROMETHEUS_DIR / "alerts.yml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
# Where the rabbitmq_prometheus plugin listens by default.
RABBITMQ_METRICS = "127.0.0.1:15692"
# The jobs of prometheus.yml, by what they scrape.
SERVICES_JOB = "aquaflow"
TRITON_JOB = "triton"
RABBITMQ_JOBS = frozenset({"rabbitmq", "rabbitmq-queues"})


class PrometheusUnavailable(FileNotFoundError):
    """The prometheus binary (or promtool) is not installed: scripts/install-prometheus.sh installs both."""


class RabbitMetricsUnavailable(RuntimeError):
    """RabbitMQ's Prometheus endpoint does not answer and cannot be turned on here."""


@dataclass(frozen=True)
class NativeTargets:
    """Where each job of the scrape configuration finds its targets on this machine (host:port)."""

    services: Mapping[str, str]  # service name → host:port of its /metrics
    triton: str | None = None  # Triton's metrics port; None: the triton job is left out
    rabbitmq: str = RABBITMQ_METRICS

    @classmethod
    def of(cls, stack: NativeStack, *, triton: str | None = None, rabbitmq: str = RABBITMQ_METRICS) -> NativeTargets:
        """The stack's services, and its Triton unless ``triton`` names one it did not start."""
        services = {name: f"127.0.0.1:{service.http_port}" for name, service in stack.services.items()}
        if triton is None and stack.triton is not None:
            triton = f"{stack.triton.host}:{stack.triton.metrics_port}"
        return cls(services=services, triton=triton, rabbitmq=rabbitmq)


def native_config(
    targets: NativeTargets,
    *,
    base: Path = SCRAPE_CONFIG,
    scrape_interval: str | None = None,
) -> dict[str, Any]:
    """``base`` with its targets replaced by ``targets``; rule files become absolute paths.

    A job this function does not know how to point somewhere is an error rather than a
    job left scraping a compose host name that does not resolve here.
    """
    config: dict[str, Any] = yaml.safe_load(base.read_text())
    if scrape_interval is not None:
        config.setdefault("global", {}).update(scrape_interval=scrape_interval, evaluation_interval=scrape_interval)
    config["rule_files"] = [str((base.parent / rule).resolve()) for rule in config.get("rule_files", [])]
    jobs = []
    for job in config.get("scrape_configs", []):
        name = job["job_name"]
        if name == SERVICES_JOB:
            job["static_configs"] = [
                {"targets": [address], "labels": {"service": service}}
                for service, address in sorted(targets.services.items())
            ]
        elif name == TRITON_JOB:
            if targets.triton is None:
                continue
            job["static_configs"] = [{"targets": [targets.triton]}]
        elif name in RABBITMQ_JOBS:
            job["static_configs"] = [{"targets": [targets.rabbitmq]}]
        else:
            raise ValueError(f"{base} has a job {name!r} that the native stack has no target for")
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


@dataclass(frozen=True)
class DashboardQuery:
    """One query of one Grafana panel, as Grafana sends it to Prometheus."""

    dashboard: str
    panel_id: int
    panel: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard}#{self.panel_id}{self.ref_id} {self.panel}"


def dashboard_queries(folder: Path = DASHBOARDS) -> list[DashboardQuery]:
    """Every Prometheus query of every panel of the dashboards in ``folder`` (rows included)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                found.append(
                    DashboardQuery(path.stem, int(panel["id"]), str(panel["title"]), target["refId"], target["expr"])
                )
    return found


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for panel in panels:
        flat.append(panel)
        flat.extend(_panels(panel.get("panels", [])))  # a collapsed row keeps its panels inside
    return flat


_STRINGS = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")
_MATCHERS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    bare = _LABEL_LISTS.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr)))
    return {name for name in _IDENTIFIER.findall(bare) if name.lower() not in _KEYWORDS}


def metric_family(name: str, exported: set[str]) -> str | None:
    """The family among ``exported`` that series ``name`` belongs to (``x_total`` to ``x``, ``x_bucket`` to ``x``)."""
    if name in exported:
        return name
    for suffix in ("_total", "_bucket", "_count", "_sum", "_created"):
        if name.endswith(suffix) and name.removesuffix(suffix) in exported:
            return name.removesuffix(suffix)
    return None


def find_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PrometheusUnavailable(f"{name} is not installed (scripts/install-prometheus.sh installs it)")
    return found


def ensure_rabbitmq_metrics(address: str = RABBITMQ_METRICS, timeout: float = 60.0) -> str:
    """RabbitMQ's Prometheus endpoint at ``address``, turning the plugin on if it is installed but off.

    ``rabbitmq-plugins enable`` is idempotent and takes effect on the running node
    (Debian's rabbitmq-server ships the plugin disabled).
    """
    host, port = address.rsplit(":", 1)
    if port_open(host, int(port)):
        return address
    plugins = shutil.which("rabbitmq-plugins")
    if plugins is None:
        raise RabbitMetricsUnavailable(f"nothing answers on {address} and rabbitmq-plugins is not installed")
    enabled = subprocess.run(
        [plugins, "enable", "rabbitmq_prometheus"], capture_output=True, text=True, timeout=timeout, check=False
    )
    if enabled.returncode != 0:
        raise RabbitMetricsUnavailable(f"rabbitmq-plugins enable rabbitmq_prometheus failed: {enabled.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while not port_open(host, int(port)):
        if time.monotonic() > deadline:
            raise RabbitMetricsUnavailable(f"rabbitmq_prometheus enabled, but nothing answers on {address}")
        time.sleep(0.2)
    return address


class PrometheusError(RuntimeError):
    """The HTTP API refused a request (a bad expression, a server error)."""


@dataclass
class PrometheusServer:
    process: subprocess.Popen[bytes] = field(repr=False)
    port: int
    config_path: Path
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def running(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310 - local URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.running():
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def api(self, path: str, **params: str | float) -> Any:
        """``data`` of a GET on ``/api/v1/<path>``; a PrometheusError for anything but success."""
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            raise PrometheusError(f"GET {path} {params}: {error.code} {body}") from error
        if answer.get("status") != "success":
            raise PrometheusError(f"GET {path} {params}: {answer}")
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: the series of its vector (or the one sample of a scalar)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] in ("vector", "matrix") else [data]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query, as a dashboard's time series panel asks it: one entry per series."""
        data = self.api("query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets", state="active")["activeTargets"]
        return active

    def exported_metrics(self) -> set[str]:
        """Every metric name a target announced (``# TYPE``/``# HELP``), samples or not."""
        metadata: dict[str, Any] = self.api("metadata")
        return set(metadata)

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def stop(self, grace: float = 10.0) -> None:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        return tail_of(self.log_path, lines, "(no prometheus log)")

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_config(config: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def start_prometheus(
    config: Mapping[str, Any], workdir: Path, *, port: int | None = None, timeout: float = 60.0
) -> PrometheusServer:
    """Serve ``config`` on a free loopback port, its data under ``workdir``; return once ready."""
    binary = find_binary("prometheus")
    config_path = write_config(config, workdir / "prometheus.yml")
    port = port or free_port()
    log_path = workdir / "prometheus.log"
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = PrometheusServer(process, port, config_path, log_path)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop(grace=5)
        raise
    return server


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aquaflow_devstack.prometheus",
        description="Write deploy/prometheus/prometheus.yml pointed at services running on this machine.",
    )
    parser.add_argument(
        "--service", action="append", default=[], metavar="NAME=HOST:PORT", help="a service's HTTP port (repeat)"
    )
    parser.add_argument("--triton", default=None, metavar="HOST:PORT", help="Triton's metrics port")
    parser.add_argument("--rabbitmq", default=RABBITMQ_METRICS, metavar="HOST:PORT", help="rabbitmq_prometheus")
    parser.add_argument("--scrape-interval", default=None, help="e.g. 5s (default: the file's)")
    parser.add_argument("--out", type=Path, default=Path("build/prometheus/prometheus.yml"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    services = dict(spec.split("=", 1) for spec in args.service)
    targets = NativeTargets(services=services, triton=args.triton, rabbitmq=args.rabbitmq)
    path = write_config(native_config(targets, scrape_interval=args.scrape_interval), args.out)
    print(f"wrote {path}; serve it with\n  prometheus --config.file={path} --storage.tsdb.path={path.parent / 'data'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
