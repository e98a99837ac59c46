"""A Frame.io event as PostFlow acts on it, however it arrived: a webhook delivery (checked
and stored by the receiver), or found by the polling that backs webhooks up.

Frame.io's payload carries ids only:

    {"account": {"id"}, "workspace": {"id"}, "project": {"id"}, "user": {"id"},
     "resource": {"id", "type"}, "type": "comment.created"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class NotAnEvent(ValueError):
    """A body that is not a Frame.io event (the reason, for the log)."""


@dataclass(frozen=True)
class FrameioEvent:
    type: str  # "comment.created", "file.ready", "metadata.value.updated", …
    account_id: str
    workspace_id: str
    project_id: str
    user_id: str
    resource_type: str  # "file", "comment", …
    resource_id: str
    received_at: float  # Unix seconds

    @classmethod
    def from_body(cls, body: bytes, received_at: float) -> FrameioEvent:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NotAnEvent(f"not JSON ({exc})") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise NotAnEvent("no event type")
        resource = payload.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("id"), str):
            raise NotAnEvent("no resource id")
        return cls(type=payload["type"], account_id=_id(payload, "account"), workspace_id=_id(payload, "workspace"),
                   project_id=_id(payload, "project"), user_id=_id(payload, "user"),
                   resource_type=str(resource.get("type") or ""), resource_id=resource["id"], received_at=received_at)


def _id(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return str(value.get("id") or "") if isinstance(value, dict) else ""
