"""A file's metadata as Frame.io v4 shows it (`GET …/files/{id}/metadata`, MetadataWithDefinition):
the review status, a select field named "Status", and the media's timing, read-only fields
"Frame Rate" (number), "Start Timecode" (text; ';' before the frames for drop-frame) and
"Duration" (number, seconds). The status is set through the documented bulk update
(`PATCH …/projects/{id}/metadata/values`, `{"data": {"file_ids", "values": [{"field_definition_id",
"value": [option id]}]}}`, 204) or the emulator's extras; each change emits `metadata.value.updated`.

Choices where Frame.io does not say: the field definitions exist in every account, their ids
(and the options') derived from the account id and the name, so they stay the same across
resets; timing fields the emulator does not know (until `/_emulator/files/{id}/media_timing` sets
them) are left out; an empty value list clears the status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.emulator.frameio_api import account, body_data, caller, guarded_routes, path_file, per_minute
from postflow.emulator.responses import ApiError
from postflow.emulator.store import File
from postflow.markers.timecode import Rate, from_timecode

if TYPE_CHECKING:
    from postflow.emulator.app import EmulatorState

STATUS_FIELD = "Status"
STATUS_OPTIONS = ("Needs Review", "In Progress", "Approved", "Rejected")
ID_NAMESPACE = uuid.UUID("5b0c3a55-6a47-4c59-9f1e-1e2a8a3f0d20")  # for the emulator's field ids


def field_id(account_id: str, name: str) -> str:
    """The id of a field definition (or, with "Status/<option>", of a status option) in an account."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{account_id}/{name}"))


@dataclass(frozen=True)
class MediaTiming:
    frame_rate: float | None = None
    start_timecode: str | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        """ValueError naming the field if one is out of range or the timecode is not one at the rate."""
        if self.frame_rate is not None and not 0 < self.frame_rate <= 1000:
            raise ValueError(f"frame_rate must be a number of frames per second, not {self.frame_rate}")
        if self.duration_s is not None and self.duration_s < 0:
            raise ValueError(f"duration_s must not be negative, not {self.duration_s}")
        if self.start_timecode is not None:
            try:
                from_timecode(self.start_timecode, self.rate or Rate(30, 1, ";" in self.start_timecode))
            except ValueError as exc:
                raise ValueError(f"start_timecode: {exc}") from None

    @property
    def rate(self) -> Rate | None:
        """The frame rate, drop-frame when the start timecode says so (';')."""
        if self.frame_rate is None:
            return None
        return Rate.from_fps(self.frame_rate, drop_frame=";" in (self.start_timecode or ""))


class FileMetadata:
    """Each file's review status (an option name) and media timing."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.statuses: dict[str, str] = {}
        self.timings: dict[str, MediaTiming] = {}

    def timing(self, file_id: str) -> MediaTiming:
        return self.timings.get(file_id, MediaTiming())


def metadata_json(emulator: EmulatorState, account_id: str, file: File) -> dict:
    timing = emulator.metadata.timing(file.id)
    status = emulator.metadata.statuses.get(file.id)

    def option(name: str) -> dict:
        return {"id": field_id(account_id, f"{STATUS_FIELD}/{name}"), "display_name": name}

    fields: list[dict] = [{"field_type": "select", "field_definition_id": field_id(account_id, STATUS_FIELD),
                           "field_definition_name": STATUS_FIELD, "mutable": True,
                           "field_options": [option(name) for name in STATUS_OPTIONS],
                           "value": [option(status)] if status else []}]
    for field_type, name, value in (("number", "Frame Rate", timing.frame_rate),
                                    ("text", "Start Timecode", timing.start_timecode),
                                    ("number", "Duration", timing.duration_s)):
        if value is not None:
            fields.append({"field_type": field_type, "field_definition_id": field_id(account_id, name),
                           "field_definition_name": name, "mutable": False, "value": value})
    return {"file_id": file.id, "metadata": fields}


def status_named(value: object) -> str | None:
    """A status option's name (None clears it); ValueError naming the options."""
    if value is None or value in STATUS_OPTIONS:
        return value  # type: ignore[return-value]
    raise ValueError(f"status must be one of {', '.join(STATUS_OPTIONS)} (or null), not {value!r}")


def set_status(emulator: EmulatorState, file: File, status: str | None, user_id: str) -> None:
    """Sets (None: clears) the file's review status and emits `metadata.value.updated`."""
    if status is None:
        emulator.metadata.statuses.pop(file.id, None)
    else:
        emulator.metadata.statuses[file.id] = status
    emulator.deliveries.emit("metadata.value.updated", file.project_id, user_id, file.id, "file")


# -- handlers --------------------------------------------------------------------------------

async def show_metadata(request: Request, emulator: EmulatorState) -> Response:
    if request.query_params.get("show_null", "false") not in ("true", "false"):
        raise ApiError(400, "show_null must be true or false")
    file = path_file(request, emulator)
    return JSONResponse({"data": metadata_json(emulator, account(request).id, file)})


def status_value(account_id: str, item: object, index: int) -> str | None:
    """The status option a values item sets (None: cleared); 422 naming what is wrong."""
    where = f"/data/values/{index}"
    if not isinstance(item, dict) or "value" not in item:
        raise ApiError(422, "each value must be {field_definition_id, value}", where)
    definition = item.get("field_definition_id")
    if definition != field_id(account_id, STATUS_FIELD):
        raise ApiError(422, f"field definition {definition} is unknown or read-only", f"{where}/field_definition_id")
    value = item["value"]
    options = {field_id(account_id, f"{STATUS_FIELD}/{name}"): name for name in STATUS_OPTIONS}
    if not isinstance(value, list) or len(value) > 1 or any(option not in options for option in value):
        raise ApiError(422, f"value must be a list of at most one of the options {', '.join(options)}",
                       f"{where}/value")
    return options[value[0]] if value else None


async def update_values(request: Request, emulator: EmulatorState) -> Response:
    member_of = account(request)
    project = emulator.store.directory.project(member_of, request.path_params["project_id"])
    data = await body_data(request)
    file_ids, values = data.get("file_ids"), data.get("values")
    if not isinstance(file_ids, list) or not file_ids or not all(isinstance(i, str) for i in file_ids):
        raise ApiError(422, "file_ids must be a non-empty list of file ids", "/data/file_ids")
    if not isinstance(values, list) or not values:
        raise ApiError(422, "values must be a non-empty list", "/data/values")
    statuses = [status_value(member_of.id, item, index) for index, item in enumerate(values)]
    files = [emulator.store.file(file_id, member_of.id) for file_id in file_ids]
    for file in files:
        if file.project_id != project.id:
            raise ApiError(422, f"File {file.id} is not in project {project.id}", "/data/file_ids")
    for file in files:
        set_status(emulator, file, statuses[-1], caller(request).id)
    return Response(status_code=204)


def metadata_routes() -> list[Route]:
    in_account = "/v4/accounts/{account_id}"
    return guarded_routes([
        (f"{in_account}/files/{{file_id}}/metadata", "GET", show_metadata, per_minute("show_metadata", 100)),
        (f"{in_account}/projects/{{project_id}}/metadata/values", "PATCH", update_values,
         per_minute("update_metadata", 10)),
    ])
