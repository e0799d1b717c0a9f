"""aquaflow results service."""
