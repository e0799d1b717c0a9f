"""What a command reports when it cannot do its job, and the exit code scripts read."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes of every command (``docs/cli.md``)."""

    OK = 0
    # Something the command watched failed: an upload dead-lettered, a service unhealthy.
    FAILED = 1
    # Wrong usage (typer's own code for bad options).
    USAGE = 2
    # The wait ended with work still pending (``--timeout``).
    PENDING = 3
    # A part of the stack could not be reached, or refused the request.
    UNREACHABLE = 4


class CliError(Exception):
    """A failure the operator can act on; printed without a traceback."""

    def __init__(self, message: str, code: Exit = Exit.UNREACHABLE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
