"""aquaflow inference service."""
