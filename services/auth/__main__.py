from postflow.core.service import run_service
from services.auth.server import build_service

raise SystemExit(run_service("auth", build_service))
