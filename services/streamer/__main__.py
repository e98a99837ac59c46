from postflow.core.service import run_service
from services.streamer.server import build_service

raise SystemExit(run_service("streamer", build_service))
