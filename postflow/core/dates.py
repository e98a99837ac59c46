"""Moments as people read them in messages and terminal output."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_minute(seconds: float) -> str:
    """Epoch `seconds` to the minute, in UTC: `2026-12-21 01:52 UTC`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_utc_minute(iso: str) -> str:
    """An ISO 8601 moment (with its offset) as `utc_minute` writes it."""
    return utc_minute(datetime.fromisoformat(iso).timestamp())


def iso_seconds(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 moment (UTC when it names no offset); None when `text` is
    not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
