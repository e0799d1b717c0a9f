"""aquaflow ingest service."""
