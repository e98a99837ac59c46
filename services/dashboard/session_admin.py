"""Admins' view of who is signed in: `GET /api/sessions` lists every active session (person,
role, pipelines, created, expires, and a short handle — never the session id) and
`POST /api/sessions/revoke` {"email": …} ends every session of that person at once, with an
audit line naming who revoked whom. Without dashboard.oidc there are no sessions to list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postflow.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.dashboard.access import Access
from services.dashboard.views import iso


def session_admin_routes(access: Access) -> list[Route]:
    async def sessions(request: Request) -> Response:
        if not access.is_admin(request):
            raise PermissionDenied("the sessions are for admins only")
        active = access.signin.sessions.active() if access.signin is not None else []
        return JSONResponse({"sessions": [
            {"handle": handle, "email": person.email, "name": person.name, "role": person.role,
             "pipelines": None if person.pipelines is None else list(person.pipelines),
             "created": iso(person.created), "expires": iso(person.expires)}
            for handle, person in active]})

    async def revoke(request: Request) -> Response:
        if not access.is_admin(request):  # the Guard already asks for admin on this POST; stated here too
            raise PermissionDenied("revoking sessions is for admins only")
        if access.signin is None:
            raise FailedPrecondition("no dashboard.oidc: there are no sessions of people to revoke")
        try:
            body = await request.json()
        except ValueError:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or not email.strip():
            raise InvalidArgument('email: expected the e-mail address of the person, as {"email": "…"}')
        ended = await access.signin.sessions.revoke(email.strip())
        admin = access.person(request)
        access.signin.record(request, admin.email if admin is not None else "access token", "revoke-sessions",
                             f"{email.strip()}: {ended} session(s)", "ok")
        return JSONResponse({"email": email.strip(), "revoked": ended})

    return [Route("/api/sessions", sessions), Route("/api/sessions/revoke", revoke, methods=["POST"])]
