"""Review comments as markers: each at a frame of the media, inside it.

Frame.io's timestamp counts frames from the start of the media. A comment without one is put
at the first frame, and one outside the media at the nearest frame inside it; either says so
in its note, so that nobody takes the position for the reviewer's."""

from __future__ import annotations

from dataclasses import dataclass

from postflow.markers.timing import MediaTiming
from postflow.v1 import watcher_pb2

NO_TIMECODE = "no timecode on Frame.io"


@dataclass(frozen=True)
class Marker:
    frame: int  # from the start of the media
    duration_frames: int  # 0 = a point
    text: str
    author: str
    completed: bool
    link: str
    note: str  # why it is not where Frame.io put it; "" when it is

    @property
    def length(self) -> int:
        """The frames it covers, one at least (editing applications have no zero-length marker)."""
        return max(self.duration_frames, 1)

    @property
    def details(self) -> str:
        """Author, done, note and link, for the formats with one field beside the text."""
        return "; ".join(part for part in (self.author, "done" if self.completed else "", self.note, self.link)
                         if part)

    @property
    def one_line(self) -> str:
        """The text on one line, for the line-based formats."""
        return " ".join(self.text.split())


def marker_from_comment(comment: watcher_pb2.ReviewComment, timing: MediaTiming) -> Marker:
    frame, note = placed(comment.frame, timing.duration_frames)
    duration = max(comment.duration_frames, 0)
    if timing.duration_frames is not None:
        duration = min(duration, timing.duration_frames - frame)
    return Marker(frame=frame, duration_frames=duration, text=comment.text, author=comment.author,
                  completed=comment.completed, link=comment.link, note=note)


def placed(frame: int, duration_frames: int | None) -> tuple[int, str]:
    """The frame a comment goes to inside the media, and the note when it is not its own."""
    if frame == -1:
        return 0, NO_TIMECODE
    last = None if duration_frames is None else max(duration_frames - 1, 0)
    if frame < 0:
        return 0, f"at frame {frame} on Frame.io, before the media: put at its first frame"
    if last is not None and frame > last:
        return last, f"at frame {frame} on Frame.io, after the media ({duration_frames} frames): put at its last frame"
    return frame, ""


def markers_from_review(review: watcher_pb2.Review, timing: MediaTiming) -> list[Marker]:
    """The comments' markers in the order of the media (the comments' own order at one frame)."""
    return sorted((marker_from_comment(comment, timing) for comment in review.comments),
                  key=lambda marker: marker.frame)
