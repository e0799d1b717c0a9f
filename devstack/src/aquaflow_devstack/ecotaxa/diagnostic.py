"""Errors and warnings collected while validating an import (py/BO/helpers/ImportHelpers.py).

Errors about a file are grouped under an 'In <file>:' line and indented with ' - ', exactly as
EcoTaxa lists them in a failed job's errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Diagnostic:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _context: str | None = None

    def error(self, message: str, context: str | None = None) -> None:
        if context is None:
            self._context = None
            self.errors.append(message)
            return
        if context != self._context:
            self.errors.append(f"In {context}:")
            self._context = context
        self.errors.append(f" - {message}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
