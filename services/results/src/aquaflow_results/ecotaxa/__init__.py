"""Pushing a sample's results to EcoTaxa: the import package, EcoTaxa's API and the push state machine."""

from aquaflow_results.ecotaxa.client import EcoTaxaClient
from aquaflow_results.ecotaxa.crops import CropReader, S3CropReader
from aquaflow_results.ecotaxa.errors import EcoTaxaAuthError, EcoTaxaError, MissingImage
from aquaflow_results.ecotaxa.mongo import MongoPushStore, PushStore, request_push
from aquaflow_results.ecotaxa.package import Package, assemble_package, build_package
from aquaflow_results.ecotaxa.push import EcoTaxaPusher, create_pusher
from aquaflow_results.ecotaxa.settings import EcoTaxaAccount, EcoTaxaSettings
from aquaflow_results.ecotaxa.state import JobStatus, Push, PushState

__all__ = [
    "CropReader",
    "EcoTaxaAccount",
    "EcoTaxaAuthError",
    "EcoTaxaClient",
    "EcoTaxaError",
    "EcoTaxaPusher",
    "EcoTaxaSettings",
    "JobStatus",
    "MissingImage",
    "MongoPushStore",
    "Package",
    "Push",
    "PushState",
    "PushStore",
    "S3CropReader",
    "assemble_package",
    "build_package",
    "create_pusher",
    "request_push",
]
