"""Loads the routing table from its YAML file (the only I/O of the router's domain)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from aquaflow_router.errors import InvalidRoutingTable
from aquaflow_router.routing import RoutingTable


def load_routing_table(path: Path) -> RoutingTable:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RoutingTable.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise InvalidRoutingTable(f"routing table {path} is unusable: {error}") from error
