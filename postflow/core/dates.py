"""Moments as people read them in messages and terminal output."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_minute(seconds: float) -> str:
    """Epoch `seconds` to the minute, in UTC: `2026-12-21 01:52 UTC`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
