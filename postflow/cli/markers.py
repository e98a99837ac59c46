"""`postflow markers JOB|PATH --format edl|fcpxml|xmeml|csv [-o OUT]`: a delivered file's
review comments as markers for an editing application, asked of the watcher (GetReview) and
written by postflow.markers. PATH is relative to a pipeline's root (or a file on this machine
under one); a job id is the ledger's (16 hex digits)."""

from __future__ import annotations

import argparse
import asyncio
import os
import posixpath
import re
import sys
from pathlib import Path

from postflow.cli.commands import CALL_TIMEOUT_S, run_rpc
from postflow.core.clients import Clients
from postflow.core.config import Config, load_config
from postflow.core.errors import InvalidArgument
from postflow.core.review_config import MARKER_FORMATS
from postflow.markers.files import marker_name, render_review
from postflow.markers.timing import MediaTiming
from postflow.v1 import watcher_pb2
from services.watcher.routing import NotRouted, Router

JOB_ID = re.compile(r"[0-9a-f]{16}")  # services.watcher.jobs.new_job_id


def add_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("path", metavar="PATH", help="the file, relative to its pipeline's root (or on this machine "
                                                  "under a root), or its job id")
    sub.add_argument("--format", required=True, choices=MARKER_FORMATS, help="edl (CMX3600, Resolve), fcpxml "
                     "(Final Cut Pro, Resolve), xmeml (Premiere Pro) or csv")
    sub.add_argument("-o", "--output", metavar="OUT", help="write here (a folder: NAME.comments.<ext> in it) "
                                                           "rather than to stdout")
    sub.add_argument("--pipeline", default="", help="the pipeline whose root PATH is under, when several could be")
    sub.add_argument("--refresh", action="store_true", help="have the watcher ask Frame.io now")


def review_request(config: Config, args: argparse.Namespace) -> watcher_pb2.GetReviewRequest:
    """By job id, or by path: a file on this machine under a root is asked for relative to it."""
    if JOB_ID.fullmatch(args.path):
        return watcher_pb2.GetReviewRequest(job_id=args.path, refresh=args.refresh)
    pipeline, path = args.pipeline, args.path.strip("/")
    if os.path.exists(args.path):
        try:
            routes, path = Router(config).locate(args.path)
            pipeline = pipeline or routes.config.name
        except NotRouted:
            pass
    return watcher_pb2.GetReviewRequest(path=path, pipeline=pipeline, refresh=args.refresh)


def cmd_markers(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    request = review_request(config, args)

    async def call(clients: Clients) -> int:
        review = await clients.watcher.GetReview(request, timeout=CALL_TIMEOUT_S)
        timing = MediaTiming.from_proto(review.timing)
        text = render_review(review, args.format, timing)
        if timing.source == "default":
            print(f"postflow markers: neither ffprobe nor Frame.io told the frame rate and start timecode of "
                  f"{review.job.path}: {timing.rate.label} fps from {timing.timecode(0)} assumed", file=sys.stderr)
        if not args.output:
            sys.stdout.write(text)
            return 0
        written = await asyncio.to_thread(write_output, Path(args.output), review.job.path, args.format, text)
        print(f"{len(review.comments)} comments of {review.job.path} written to {written}", file=sys.stderr)
        return 0

    return run_rpc(config, call)


def write_output(out: Path, media_path: str, fmt: str, text: str) -> Path:
    if out.is_dir():
        out = out / marker_name(posixpath.basename(media_path), fmt)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot write {out}: {exc.strerror}") from None
    return out
