"""API tokens: one per tenant, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from pydantic import SecretStr


class TenantTokens:
    def __init__(self, tokens: Mapping[str, SecretStr]) -> None:
        self._tokens = [(tenant, token.get_secret_value().encode()) for tenant, token in tokens.items()]

    def tenant_for(self, presented: str) -> str | None:
        """The tenant whose token this is, or None.

        Every token is compared, whatever matched, so the time taken says nothing
        about which tenant's token was close.
        """
        candidate = presented.encode()
        found: str | None = None
        for tenant, token in self._tokens:
            if hmac.compare_digest(candidate, token) and found is None:
                found = tenant
        return found
