from __future__ import annotations

from aquaflow_shared.errors import PermanentError


class RouterError(Exception):
    """Base of the router's own errors."""


class NoRoute(RouterError, PermanentError):
    code = "no_route"


class InvalidRoutingTable(RouterError):
    """The YAML file cannot be used; raised at start-up, never per message."""
