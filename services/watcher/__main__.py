from postflow.core.service import run_service
from services.watcher.server import build_service

raise SystemExit(run_service("watcher", build_service))
