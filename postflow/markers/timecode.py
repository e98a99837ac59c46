"""SMPTE timecode: frame counts to HH:MM:SS:FF and back, drop-frame included.

A rate is a fraction (24000/1001 for 23.976, 30000/1001 for 29.97). Timecode counts whole
frames at the nominal rate (24, 30), so at 23.976 it drifts from the clock; drop-frame
timecode (29.97, 59.94) skips frame numbers 0 and 1 (0–3 at 59.94) at the start of every
minute except each tenth, which keeps it within a frame of the clock. Drop-frame timecode is
written with ';' before the frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


@dataclass(frozen=True)
class Rate:
    numerator: int  # frames per `denominator` seconds: 24000/1001, 25/1, 30000/1001
    denominator: int = 1
    drop_frame: bool = False

    def __post_init__(self) -> None:
        if self.numerator <= 0 or self.denominator <= 0:
            raise ValueError(f"a frame rate must be positive, not {self.numerator}/{self.denominator}")
        if self.drop_frame and self.nominal % 30:
            raise ValueError(f"drop-frame timecode exists at 29.97 and 59.94 only, not {float(self.fps):.3f}")

    @property
    def fps(self) -> Fraction:
        return Fraction(self.numerator, self.denominator)

    @property
    def nominal(self) -> int:
        """The whole frames per timecode second: 24 at 23.976, 30 at 29.97."""
        return round(self.fps)

    @property
    def frame_duration(self) -> Fraction:
        """One frame in seconds: 1001/24000 at 23.976."""
        return 1 / self.fps

    @property
    def dropped(self) -> int:
        """Frame numbers skipped each minute but every tenth (2 at 29.97, 4 at 59.94)."""
        return self.nominal // 15 if self.drop_frame else 0

    @property
    def label(self) -> str:
        """23.976, 25, 29.97 DF, …"""
        fps = self.fps
        text = str(fps.numerator) if fps.denominator == 1 else f"{float(fps):.3f}".rstrip("0").rstrip(".")
        return text + (" DF" if self.drop_frame else "")

    @classmethod
    def from_fps(cls, fps: float | str, *, drop_frame: bool = False) -> Rate:
        """The rate a decimal figure stands for: 23.976 and 23.98 are 24000/1001, 29.97 is
        30000/1001, 25 is 25/1."""
        value = float(fps)
        if value <= 0:
            raise ValueError(f"a frame rate must be positive, not {fps}")
        whole = round(value)
        if abs(value - whole) < 0.005:
            return cls(whole, 1, drop_frame)
        ntsc = round(value * 1.001)
        if abs(value - ntsc * 1000 / 1001) < 0.01:
            return cls(ntsc * 1000, 1001, drop_frame)
        fraction = Fraction(value).limit_denominator(1001)
        return cls(fraction.numerator, fraction.denominator, drop_frame)


def to_timecode(frame: int, rate: Rate) -> str:
    """The timecode of a frame count (from 00:00:00:00). Wraps at 24 hours."""
    if frame < 0:
        raise ValueError(f"no timecode for a negative frame count ({frame})")
    per_second = rate.nominal
    if rate.drop_frame:
        dropped = rate.dropped
        per_ten_minutes = per_second * 600 - dropped * 9
        per_minute = per_second * 60 - dropped
        tens, rest = divmod(frame, per_ten_minutes)
        frame += dropped * 9 * tens
        if rest > dropped:
            frame += dropped * ((rest - dropped) // per_minute)
    frames = frame % per_second
    seconds = frame // per_second
    separator = ";" if rate.drop_frame else ":"
    return f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"


def from_timecode(text: str, rate: Rate) -> int:
    """The frame count of a timecode at `rate`; ValueError naming what is wrong."""
    match = TIMECODE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a timecode (HH:MM:SS:FF)")
    hours, minutes, seconds, frames = (int(match[index]) for index in (1, 2, 3, 5))
    if hours > 23 or minutes > 59 or seconds > 59 or frames >= rate.nominal:
        raise ValueError(f"{text!r} is not a valid timecode at {rate.label} fps")
    total_minutes = hours * 60 + minutes
    if rate.drop_frame and minutes % 10 and seconds == 0 and frames < rate.dropped:
        raise ValueError(f"{text!r} does not exist in drop-frame timecode (frames 00–{rate.dropped - 1:02d} "
                         "are skipped at the start of each minute but every tenth)")
    count = (total_minutes * 60 + seconds) * rate.nominal + frames
    return count - rate.dropped * (total_minutes - total_minutes // 10)
