"""aquaflow's plankton classifier as a DEEPaaS v2 module (entry point group ``deepaas.v2.model``)."""
