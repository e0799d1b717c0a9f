"""EcoTaxa's refusals, as the project's two kinds of failure.

Unreachable EcoTaxa (connection errors, timeouts, 5xx) is
``aquaflow_shared.errors.DependencyUnavailable("ecotaxa", …)``: transient.
"""

from __future__ import annotations

from aquaflow_shared.errors import PermanentError


class EcoTaxaError(PermanentError):
    """EcoTaxa answered, and said no: retrying the same request cannot help."""

    code = "ecotaxa_rejected"


class EcoTaxaAuthError(EcoTaxaError):
    """EcoTaxa refused the credentials or the rights (401 after a fresh login, 403)."""

    code = "ecotaxa_auth"


class MissingImage(PermanentError):
    """An object's image is not in the bucket: the object is left out of the package."""

    code = "missing_image"
