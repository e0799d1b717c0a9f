"""A stand-in for EcoTaxa's back end (ecotaxa/ecotaxa_back): login, user files, file import jobs
with EcoTaxa's own validation rules, and a read-back of the imported objects.
See docs/ecotaxa-standin.md."""

from .app import create_ecotaxa_app
from .server import EcoTaxaServer, start_ecotaxa

__all__ = ["EcoTaxaServer", "create_ecotaxa_app", "start_ecotaxa"]
