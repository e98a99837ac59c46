"""Applications: the `postflow` command, its supervisor, demo, config migration and healthcheck."""
