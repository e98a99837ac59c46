"""The pages: the dashboard's shell, the analytics page and the web app manifest (static files),
and short problem pages for the OAuth redirect endpoints, written here (every interpolated
string escaped)."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
NO_CACHE = {"cache-control": "no-cache"}  # revalidate, so a restarted dashboard serves its own code


def static_page(name: str, media_type: str | None = None) -> Callable[[Request], Awaitable[Response]]:
    """A page (or the web app manifest) the browser asks for by a path of its own, outside /static/."""

    async def serve(request: Request) -> Response:
        return FileResponse(STATIC_DIR / name, media_type=media_type, headers=NO_CACHE)

    return serve


index = static_page("index.html")
analytics = static_page("analytics.html")
manifest = static_page("manifest.webmanifest", "application/manifest+json")


def problem_page(status_code: int, title: str, detail: str) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>PostFlow: {html.escape(title)}</title><link rel="stylesheet" href="/static/style.css"></head>
<body class="problem"><main><h1>{html.escape(title)}</h1><p id="problem">{html.escape(detail)}</p>
<p><a href="/auth/login">Start the Frame.io connection again</a> · <a href="/">Back to the dashboard</a></p>
</main></body></html>
"""
    return HTMLResponse(body, status_code=status_code, headers={"cache-control": "no-store"})


class StaticAssets(StaticFiles):
    """The page's scripts and styles, revalidated on every load (see NO_CACHE)."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("cache-control", NO_CACHE["cache-control"])
        return response
