"""aquaflow's common library: contracts, topology, settings fragments, observability.

It holds no business logic and imports no service.
"""
