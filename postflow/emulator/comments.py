"""Frame.io v4's comments on a file: list (paged; `include=owner,replies`, `sort`,
`timestamp_as_timecode`), create, show, update and delete, for any member of the account (a
reviewer's token as well as an admin's), with the documented limits (list, create and show
100/min, update 10/min, delete 60/min) and the documented rules: `text` is required, `timestamp`
is in frames, `duration` (frames) needs a `timestamp`, `page` is for PDFs only, `anchor` lies in
0–1. Each change emits its webhook event (comment.created/updated/completed/uncompleted/deleted).

Choices where Frame.io does not say:
- create answers 201; update answers 200 with the comment; delete 204;
- `completed: true` sets `completed_at` and `completer_id` (the caller), `false` clears them;
  a change of `text` sets `text_edited_at`;
- with `timestamp_as_timecode=true` timestamps are answered (and may be given) as timecode
  counted from 00:00:00:00 at the file's frame rate (its media timing; 24 fps when unknown),
  drop-frame (';') when its start timecode is;
- `replies` are always empty (the public API has no way to write one); attachments are not
  emulated (422); `mentions` are empty."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.directory import Directory, User, new_id
from postflow.emulator.frameio_api import (
    account,
    body_data,
    caller,
    guarded_routes,
    page,
    path_file,
    per_minute,
)
from postflow.emulator.resources import iso, user_json
from postflow.emulator.responses import ApiError
from postflow.emulator.store import File
from postflow.markers.timecode import Rate, from_timecode, to_timecode

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState

UNKNOWN_RATE = Rate(24)
INCLUDES = ("owner", "replies")
SORTS = {f"{key}_{order}": (key, order == "desc") for key in ("created_at", "completed_at", "owner")
         for order in ("asc", "desc")}


@dataclass
class Comment:
    id: str
    file_id: str
    owner_id: str
    text: str
    seq: int
    timestamp: int | None = None
    duration: int | None = None
    page: int | None = None
    anchor: dict | None = None
    annotation: str | None = None
    links: list[dict] = field(default_factory=list)
    completed_at: float | None = None
    completer_id: str | None = None
    text_edited_at: float | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


class Comments:
    """Every comment, and the reviewers who commented through the emulator's extras without
    being seeded users."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self.clear()

    def clear(self) -> None:
        self.by_id: dict[str, Comment] = {}
        self.guests: dict[str, User] = {}  # by lower-case e-mail

    def of_file(self, file_id: str) -> list[Comment]:
        return sorted((c for c in self.by_id.values() if c.file_id == file_id), key=lambda c: c.seq)

    def reviewer(self, directory: Directory, name: str, email: str) -> User:
        """The seeded user with this e-mail, else a guest reviewer (the same one for the same e-mail)."""
        found = directory.user_by_email(email)
        if found is not None:
            return found
        return self.guests.setdefault(email.lower(), User(new_id(), name, email))

    def user(self, directory: Directory, user_id: str) -> User:
        return directory.users.get(user_id) or next(u for u in self.guests.values() if u.id == user_id)

    def add(self, file: File, owner: User, fields: dict) -> Comment:
        comment = Comment(new_id(), file.id, owner.id, fields.pop("text"), next(self._seq))
        self.by_id[comment.id] = comment
        change(comment, owner, fields)
        return comment


def change(comment: Comment, user: User, fields: dict) -> list[str]:
    """Applies validated `fields` to `comment`; the webhook events the change makes."""
    events = []
    now = time.time()
    completed = fields.pop("completed", None)
    if completed is not None and completed != (comment.completed_at is not None):
        comment.completed_at, comment.completer_id = (now, user.id) if completed else (None, None)
        events.append("comment.completed" if completed else "comment.uncompleted")
    if "text" in fields and fields["text"] != comment.text:
        comment.text_edited_at = now
    changed = {key: value for key, value in fields.items() if getattr(comment, key) != value}
    for key, value in changed.items():
        setattr(comment, key, value)
    if changed:
        events.append("comment.updated")
    if events:
        comment.updated_at = now
    return events


# -- validation ------------------------------------------------------------------------------

def _frames(value: object, key: str, rate: Rate | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and rate is not None:
        try:
            return from_timecode(value, rate)
        except ValueError as exc:
            raise ApiError(422, f"{key}: {exc}", f"/data/{key}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError(422, f"{key} must be a whole number of frames from 0", f"/data/{key}")
    return value


def comment_fields(data: dict, file: File, *, creating: bool, rate: Rate | None) -> dict:
    """The validated fields of a create or update body (`rate`: timecodes are taken at it)."""
    fields: dict = {}
    if creating or "text" in data:
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(422, "text is required" if creating else "text must not be empty", "/data/text")
        fields["text"] = text
    for key in ("timestamp", "duration"):
        if key in data:
            fields[key] = _frames(data[key], key, rate)
    if "completed" in data:
        if not isinstance(data["completed"], bool):
            raise ApiError(422, "completed must be true or false", "/data/completed")
        fields["completed"] = data["completed"]
    if data.get("page") is not None:
        if file.media_type != "application/pdf":
            raise ApiError(422, "page is allowed only on a PDF document", "/data/page")
        fields["page"] = _frames(data["page"], "page", None)
    if data.get("anchor") is not None:
        anchor = data["anchor"]
        if not isinstance(anchor, dict) or not all(
                isinstance(anchor.get(axis), int | float) and 0 <= anchor[axis] <= 1 for axis in ("x", "y")):
            raise ApiError(422, "anchor must be {x, y}, each from 0 to 1", "/data/anchor")
        fields["anchor"] = {"x": anchor["x"], "y": anchor["y"]}
    if data.get("annotation") is not None:
        if not isinstance(data["annotation"], str):
            raise ApiError(422, "annotation must be a string (stringified JSON)", "/data/annotation")
        fields["annotation"] = data["annotation"]
    if data.get("links") is not None:
        fields["links"] = _links(data["links"])
    if data.get("attachments"):
        raise ApiError(422, "attachments are not emulated", "/data/attachments")
    return fields


def _links(value: object) -> list[dict]:
    keys = {"text": str, "url": str, "start_index": int, "end_index": int}
    if not isinstance(value, list) or not all(
            isinstance(link, dict) and all(isinstance(link.get(k), kind) for k, kind in keys.items())
            for link in value):
        raise ApiError(422, "links must be a list of {text, url, start_index, end_index}", "/data/links")
    return [{k: link[k] for k in keys} for link in value]


def checked_duration(comment_timestamp: int | None, fields: dict) -> None:
    if fields.get("duration") is not None and fields.get("timestamp", comment_timestamp) is None:
        raise ApiError(422, "duration needs timestamp", "/data/duration")


# -- actions shared by the API and the emulator's extras ---------------------------------------

def post_comment(emulator: EmulatorState, file: File, owner: User, data: dict, rate: Rate | None = None) -> Comment:
    fields = comment_fields(data, file, creating=True, rate=rate)
    checked_duration(None, fields)
    comment = emulator.comments.add(file, owner, fields)
    emulator.deliveries.emit("comment.created", file.project_id, owner.id, comment.id, "comment")
    return comment


def update_comment(emulator: EmulatorState, comment: Comment, user: User, data: dict,
                   rate: Rate | None = None) -> Comment:
    file = emulator.store.file(comment.file_id)
    fields = comment_fields(data, file, creating=False, rate=rate)
    checked_duration(comment.timestamp, fields)
    for event in change(comment, user, fields):
        emulator.deliveries.emit(event, file.project_id, user.id, comment.id, "comment")
    return comment


def find_comment(emulator: EmulatorState, comment_id: str, account_id: str | None = None) -> Comment:
    """The comment, if its file exists (in `account_id` when given); 404 else."""
    comment = emulator.comments.by_id.get(comment_id)
    file = emulator.store.assets.get(comment.file_id) if comment is not None else None
    if comment is None or file is None or account_id not in (None, emulator.store.account_of(file)):
        raise ApiError(404, f"Comment {comment_id} not found")
    return comment


def comment_json(emulator: EmulatorState, comment: Comment, includes: tuple[str, ...] = (),
                 rate: Rate | None = None) -> dict:
    """The Comment (with `includes`); timestamps as timecode at `rate` when given."""
    def stamp(frames: int | None) -> int | str | None:
        return frames if frames is None or rate is None else to_timecode(frames, rate)

    body: dict = {"id": comment.id, "file_id": comment.file_id, "text": comment.text,
                  "timestamp": stamp(comment.timestamp), "duration": comment.duration, "page": comment.page,
                  "anchor": comment.anchor, "annotation": comment.annotation, "attachments": [],
                  "links": comment.links, "mentions": [], "text_review_annotation": None,
                  "completed_at": iso(comment.completed_at) if comment.completed_at is not None else None,
                  "completer_id": comment.completer_id,
                  "text_edited_at": iso(comment.text_edited_at) if comment.text_edited_at is not None else None,
                  "created_at": iso(comment.created_at), "updated_at": iso(comment.updated_at)}
    if "owner" in includes:
        body["owner"] = user_json(emulator.comments.user(emulator.store.directory, comment.owner_id))
    if "replies" in includes:
        body["replies"] = []
    return body


# -- handlers --------------------------------------------------------------------------------

def timecode_rate(request: Request, emulator: EmulatorState, file_id: str) -> Rate | None:
    """The rate timestamps are read and written at, if `timestamp_as_timecode=true`."""
    flag = request.query_params.get("timestamp_as_timecode", "false")
    if flag not in ("true", "false"):
        raise ApiError(400, "timestamp_as_timecode must be true or false")
    return (emulator.metadata.timing(file_id).rate or UNKNOWN_RATE) if flag == "true" else None


def includes(request: Request) -> tuple[str, ...]:
    asked = tuple(part.strip() for part in request.query_params.get("include", "").split(",") if part.strip())
    if not set(asked) <= set(INCLUDES):
        raise ApiError(400, f"include must be among {', '.join(INCLUDES)}")
    return asked


def path_comment(request: Request, emulator: EmulatorState) -> Comment:
    return find_comment(emulator, request.path_params["comment_id"], account(request).id)


async def list_comments(request: Request, emulator: EmulatorState) -> Response:
    file = path_file(request, emulator)
    rate, included = timecode_rate(request, emulator, file.id), includes(request)
    comments = emulator.comments.of_file(file.id)
    if "sort" in request.query_params:
        if request.query_params["sort"] not in SORTS:
            raise ApiError(400, f"sort must be one of {', '.join(SORTS)}")
        key, descending = SORTS[request.query_params["sort"]]
        users = emulator.store.directory

        def sort_key(comment: Comment) -> tuple:
            if key == "owner":
                return (emulator.comments.user(users, comment.owner_id).name.lower(), comment.seq)
            return (getattr(comment, key) or 0.0, comment.seq)

        comments.sort(key=sort_key, reverse=descending)
    return page(request, comments, lambda comment: comment_json(emulator, comment, included, rate))


async def create_comment(request: Request, emulator: EmulatorState) -> Response:
    file = path_file(request, emulator)
    rate = timecode_rate(request, emulator, file.id)
    comment = post_comment(emulator, file, caller(request), await body_data(request), rate)
    return JSONResponse({"data": comment_json(emulator, comment, rate=rate)}, status_code=201)


async def show_comment(request: Request, emulator: EmulatorState) -> Response:
    comment = path_comment(request, emulator)
    rate = timecode_rate(request, emulator, comment.file_id)
    return JSONResponse({"data": comment_json(emulator, comment, includes(request), rate)})


async def patch_comment(request: Request, emulator: EmulatorState) -> Response:
    comment = path_comment(request, emulator)
    rate = timecode_rate(request, emulator, comment.file_id)
    update_comment(emulator, comment, caller(request), await body_data(request), rate)
    return JSONResponse({"data": comment_json(emulator, comment, rate=rate)})


async def delete_comment(request: Request, emulator: EmulatorState) -> Response:
    comment = path_comment(request, emulator)
    file = emulator.store.file(comment.file_id)
    del emulator.comments.by_id[comment.id]
    emulator.deliveries.emit("comment.deleted", file.project_id, caller(request).id, comment.id, "comment")
    return Response(status_code=204)


def comment_routes() -> list[Route]:
    in_account = "/v4/accounts/{account_id}"
    on_file, one = f"{in_account}/files/{{file_id}}/comments", f"{in_account}/comments/{{comment_id}}"
    return guarded_routes([
        (on_file, "GET", list_comments, per_minute("comments", 100)),
        (on_file, "POST", create_comment, per_minute("create_comment", 100)),
        (one, "GET", show_comment, per_minute("show_comment", 100)),
        (one, "PATCH", patch_comment, per_minute("update_comment", 10)),
        (one, "DELETE", delete_comment, per_minute("delete_comment", 60)),
    ])
