"""aquaflow router service."""
