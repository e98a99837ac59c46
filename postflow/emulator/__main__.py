"""`python -m postflow.emulator [--host H] [--port P] ...`: see postflow.emulator.server.main."""
from postflow.emulator.server import main

raise SystemExit(main())
