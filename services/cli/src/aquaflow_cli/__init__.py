"""aquaflow's command line for operators and newcomers (``aquaflow --help``)."""
