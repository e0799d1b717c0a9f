"""One module per command group; each is a thin layer over the pure modules and the adapters."""
