"""Tools for developing PostFlow (tests and benchmarks), not used by the services."""
