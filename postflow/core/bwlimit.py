"""Bandwidth limits in rclone's `--bwlimit` syntax: `off`, a rate (`20M`: bytes per second,
suffixes B, K, M, G, T binary as in rclone, 1K = 1024), or a timetable of space-separated
`HH:MM,RATE` (every day) and `Day-HH:MM,RATE` (that weekday) entries, e.g.
`08:00,20M 19:00,off` or `Mon-08:00,10M Sat-00:00,off`. An entry holds from its time until
the next one, and the last one of the week holds until the first (the table wraps around).
Times are local."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
UNITS = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([BKMGT])", re.IGNORECASE)
WHEN = re.compile(r"(?:([A-Za-z]+)-)?(\d{1,2}):(\d{2})")

Rate = int | None  # bytes per second; None: no limit


@dataclass(frozen=True)
class Schedule:
    """The limit over the week: (minute of the week, rate) in order, the first at 0 or later."""

    text: str
    entries: tuple[tuple[int, Rate], ...]

    @property
    def fixed(self) -> bool:
        """The same limit all the time."""
        return len({rate for _, rate in self.entries}) == 1

    def rate_at(self, when: datetime) -> Rate:
        index = bisect.bisect_right(self.entries, minute_of_week(when), key=lambda entry: entry[0]) - 1
        return self.entries[index][1]  # index -1 before the week's first entry: the last one still holds

    def next_change(self, when: datetime) -> datetime | None:
        """When the limit next changes after `when`; None for a fixed limit."""
        if self.fixed:
            return None
        now, current = minute_of_week(when), self.rate_at(when)
        starts = sorted(((start - now - 1) % MINUTES_PER_WEEK + 1, rate) for start, rate in self.entries)
        ahead = next(minutes for minutes, rate in starts if rate != current)
        return when.replace(second=0, microsecond=0) + timedelta(minutes=ahead)


OFF = Schedule("off", ((0, None),))


def minute_of_week(when: datetime) -> int:
    return when.weekday() * MINUTES_PER_DAY + when.hour * 60 + when.minute


def parse_rate(text: str) -> Rate:
    """`off` → None; `20M` → 20 MiB/s in bytes per second."""
    if text.lower() == "off":
        return None
    match = RATE.fullmatch(text)
    if match is None:
        if "|" in text or ":" in text:
            raise ValueError(f"{text!r}: separate upload and download limits are not supported; give one rate")
        if re.fullmatch(r"\d+(\.\d*)?", text):
            raise ValueError(f"{text!r}: give a unit, e.g. {text}K or {text}M (B, K, M, G, T; 1K = 1024 bytes)")
        raise ValueError(f"{text!r} is not a rate: expected off or a number with a unit, e.g. 512K or 20M")
    rate = int(float(match[1]) * UNITS[match[2].upper()])
    if rate <= 0:
        raise ValueError(f"{text!r}: a rate must be more than 0 bytes per second (no limit is off)")
    return rate


def parse_when(text: str) -> list[int]:
    """`08:00` → that minute of every day; `Mon-08:00` → that minute of the week."""
    match = WHEN.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time: expected HH:MM or Day-HH:MM, e.g. 08:00 or Mon-08:00")
    day, hour, minute = match[1], int(match[2]), int(match[3])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: no such time of day (00:00 to 23:59)")
    minute_of_day = hour * 60 + minute
    if day is None:
        return [weekday * MINUTES_PER_DAY + minute_of_day for weekday in range(7)]
    weekday = next((index for index, name in enumerate(DAYS) if day.lower() in (name, name[:3])), None)
    if weekday is None:
        raise ValueError(f"{day!r} is not a day: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")
    return [weekday * MINUTES_PER_DAY + minute_of_day]


def parse_schedule(text: str) -> Schedule:
    """The schedule `text` describes; ValueError saying what is wrong."""
    words = text.split()
    if not words:
        raise ValueError("empty: expected off, a rate such as 20M, or a timetable such as \"08:00,20M 19:00,off\"")
    if len(words) == 1 and "," not in words[0] and not WHEN.fullmatch(words[0]):
        return Schedule(text, ((0, parse_rate(words[0])),))
    starts: dict[int, Rate] = {}
    for word in words:
        when, comma, rate_text = word.partition(",")
        if not comma:
            raise ValueError(f"{word!r}: a timetable entry is TIME,RATE, e.g. 08:00,20M")
        rate = parse_rate(rate_text)
        for start in parse_when(when):
            if start in starts:
                raise ValueError(f"{word!r}: two entries for the same time")
            starts[start] = rate
    return Schedule(text, tuple(sorted(starts.items())))


def describe_rate(rate: Rate) -> str:
    """`20 MiB/s`, `512 KiB/s`, `off`."""
    if rate is None:
        return "off"
    for unit in ("T", "G", "M", "K"):
        if rate >= UNITS[unit]:
            return f"{rate / UNITS[unit]:.4g} {unit}iB/s"
    return f"{rate} B/s"
