"""Applications: the `postflow` command, its supervisor, demo, config migration, login and doctor."""
