"""`python -m postflow.cli`: the `postflow` command."""

from postflow.cli.main import main

raise SystemExit(main())
