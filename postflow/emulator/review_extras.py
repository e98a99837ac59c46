"""The emulator's own endpoints (not Frame.io) for the review loop, so tests act as a reviewer
would without a token and see what the webhooks sent. A reviewer is named by `name` and
`email`: a seeded user with that e-mail, else a guest reviewer (default "Reviewer",
reviewer@emulator.invalid). Each action emits the webhook event Frame.io would.

    POST /_emulator/files/{file_id}/comments         {"text", "timestamp"?, "duration"?, "completed"?,
                                                      "name"?, "email"?}  → 201 {"data": Comment + owner}
    POST /_emulator/comments/{comment_id}/complete   {"completed"?: true, "name"?, "email"?}
                                                      → {"data": Comment + owner}
    PUT  /_emulator/files/{file_id}/review_status    {"status": "Approved" | … | null, "name"?, "email"?}
                                                      → {"data": MetadataWithDefinition}
    PUT  /_emulator/files/{file_id}/media_timing     {"frame_rate"?, "start_timecode"?, "duration_s"?}
                                                      (replaces it; left out: unknown) → {"data": …}
    GET  /_emulator/webhooks                          every webhook, secret included
    GET|DELETE /_emulator/webhooks/deliveries         {"deliveries": every attempt (deliveries.py), oldest
                                                      first; "pending": deliveries and delayed events under way}

Errors: 404 for an unknown file or comment, 400 for a malformed body, as {"error": "…"}."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.comments import comment_json, find_comment, post_comment, update_comment
from postflow.emulator.directory import User
from postflow.emulator.responses import ApiError
from postflow.emulator.review_status import MediaTiming, metadata_json, set_status, status_named
from postflow.emulator.webhooks import webhook_json

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState

DEFAULT_REVIEWER = ("Reviewer", "reviewer@emulator.invalid")

Extra = Callable[[Request, "EmulatorState", dict], Awaitable[Response]]


def answering(extra: Extra) -> Callable[[Request], Awaitable[Response]]:
    """`extra` with its JSON body parsed, and its errors answered as {"error"}."""
    async def endpoint(request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return await extra(request, request.app.state.emulator, body)
        except ApiError as exc:
            return JSONResponse({"error": exc.detail}, status_code=exc.status if exc.status == 404 else 400)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


def reviewer(emulator: EmulatorState, body: dict) -> User:
    name, email = body.get("name", DEFAULT_REVIEWER[0]), body.get("email", DEFAULT_REVIEWER[1])
    if not isinstance(name, str) or not name.strip() or not isinstance(email, str) or "@" not in email:
        raise ValueError("name must be a non-empty string and email an e-mail address")
    return emulator.comments.reviewer(emulator.store.directory, name, email)


async def add_comment(request: Request, emulator: EmulatorState, body: dict) -> Response:
    file = emulator.store.file(request.path_params["file_id"])
    data = {key: value for key, value in body.items() if key not in ("name", "email")}
    comment = post_comment(emulator, file, reviewer(emulator, body), data)
    return JSONResponse({"data": comment_json(emulator, comment, ("owner",))}, status_code=201)


async def complete_comment(request: Request, emulator: EmulatorState, body: dict) -> Response:
    comment = find_comment(emulator, request.path_params["comment_id"])
    completed = body.get("completed", True)
    by = reviewer(emulator, body) if "email" in body else emulator.comments.user(emulator.store.directory,
                                                                                   comment.owner_id)
    update_comment(emulator, comment, by, {"completed": completed})
    return JSONResponse({"data": comment_json(emulator, comment, ("owner",))})


async def review_status(request: Request, emulator: EmulatorState, body: dict) -> Response:
    file = emulator.store.file(request.path_params["file_id"])
    if "status" not in body:
        raise ValueError("status is required (null clears it)")
    set_status(emulator, file, status_named(body["status"]), reviewer(emulator, body).id)
    return JSONResponse({"data": metadata_json(emulator, emulator.store.account_of(file), file)})


async def media_timing(request: Request, emulator: EmulatorState, body: dict) -> Response:
    file = emulator.store.file(request.path_params["file_id"])
    unknown = set(body) - {"frame_rate", "start_timecode", "duration_s"}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    for key, kinds in (("frame_rate", (int, float)), ("duration_s", (int, float)), ("start_timecode", (str,))):
        if body.get(key) is not None and (isinstance(body[key], bool) or not isinstance(body[key], kinds)):
            raise ValueError(f"{key} must be a {'string' if kinds == (str,) else 'number'}")
    emulator.metadata.timings[file.id] = MediaTiming(body.get("frame_rate"), body.get("start_timecode"),
                                                     body.get("duration_s"))
    return JSONResponse({"data": metadata_json(emulator, emulator.store.account_of(file), file)})


async def webhooks(request: Request, emulator: EmulatorState, body: dict) -> Response:
    return JSONResponse({"webhooks": [{**webhook_json(w), "account_id": w.account_id, "secret": w.secret}
                                      for w in sorted(emulator.webhooks.by_id.values(), key=lambda w: w.seq)]})


async def deliveries(request: Request, emulator: EmulatorState, body: dict) -> Response:
    if request.method == "DELETE":
        emulator.deliveries.attempts.clear()
    return JSONResponse({"deliveries": [attempt.describe() for attempt in emulator.deliveries.attempts],
                         "pending": emulator.deliveries.pending})


def review_extra_routes() -> list[Route]:
    return [
        Route("/_emulator/files/{file_id}/comments", answering(add_comment), methods=["POST"]),
        Route("/_emulator/comments/{comment_id}/complete", answering(complete_comment), methods=["POST"]),
        Route("/_emulator/files/{file_id}/review_status", answering(review_status), methods=["PUT"]),
        Route("/_emulator/files/{file_id}/media_timing", answering(media_timing), methods=["PUT"]),
        Route("/_emulator/webhooks", answering(webhooks), methods=["GET"]),
        Route("/_emulator/webhooks/deliveries", answering(deliveries), methods=["GET", "DELETE"]),
    ]
