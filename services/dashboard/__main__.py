from postflow.core.service import run_service
from services.dashboard.server import build_service

raise SystemExit(run_service("dashboard", build_service))
