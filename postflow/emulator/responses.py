"""Error bodies in each surface's own dialect: Frame.io's JSON:API-like `errors` list,
Adobe IMS's RFC 6749 `error`/`error_description`, and S3's XML `<Error>`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    """Raised by a Frame.io handler; rendered as `{"errors": [...]}` with `status`."""

    def __init__(self, status: int, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.pointer = pointer


class ImsError(Exception):
    """Raised by an IMS handler; rendered as an RFC 6749 error body."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JSONResponse:
        """The error body; a 401 (client authentication failed) names the scheme to use (RFC 6749 §5.2)."""
        headers = {"WWW-Authenticate": 'Basic realm="ims"'} if self.status == 401 else None
        return ims_error(self.error, self.description, self.status, headers)


def frameio_error(status: int, detail: str, pointer: str | None = None,
                  headers: Mapping[str, str] | None = None) -> JSONResponse:
    item: dict = {"detail": detail, "title": HTTPStatus(status).phrase}
    if pointer:
        item["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [item]}, status_code=status, headers=headers)


def ims_error(error: str, description: str, status: int = 400,
              headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def s3_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error>")
    return Response(body, status_code=status, media_type="application/xml", headers=headers)


def error_for_path(path: str, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error in the dialect of whichever surface `path` belongs to."""
    if path.startswith("/ims/"):
        code = {429: "too_many_requests"}.get(status, "server_error" if status >= 500 else "invalid_request")
        return ims_error(code, detail, status, headers)
    if path.startswith("/_s3/"):
        code = {429: "SlowDown", 503: "SlowDown", 404: "NoSuchKey"}.get(status, "InternalError")
        return s3_error(status, code, detail, headers)
    return frameio_error(status, detail, headers=headers)
