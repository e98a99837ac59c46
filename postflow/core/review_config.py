"""The config of the review loop: what comes back from Frame.io once a file is delivered.

The `review` section says how long delivered files are followed and how often they are
polled (the fallback that catches whatever a Frame.io webhook missed), and what each pipeline
does with what comes back unless its own `review` says otherwise:

    "review": {"follow_days": 14, "poll_interval_s": 300,
               "carry_comments": false, "markers": ["edl", "fcpxml"],
               "on_approved": {"notify": true, "copy_to": "APPROVED"}}

`carry_comments`: when a new version is stacked, the unresolved comments of the version it
replaces are copied onto it. `markers`: the comments written next to the source
(`NAME.comments.edl`, …) and refreshed when they change. `on_approved`: what a review status
of `approved_status` sets off. Those that write into the root need a writable one.
"""

from __future__ import annotations

import posixpath
from typing import Annotated

from pydantic import AfterValidator, Strict, model_validator
from pydantic.dataclasses import dataclass

from postflow.core.config_types import SECTION, Flag, KeyProblem, NonNegativeSeconds, PositiveSeconds, Section, Strings

MARKER_FORMATS = ("edl", "fcpxml", "xmeml", "csv")
MARKER_SUFFIXES = {"edl": ".comments.edl", "fcpxml": ".comments.fcpxml", "xmeml": ".comments.xml",
                   "csv": ".comments.csv"}


def check_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in formats if name not in MARKER_FORMATS]
    if unknown:
        raise ValueError(f"unknown marker format {unknown[0]!r} (known: {', '.join(MARKER_FORMATS)})")
    return tuple(dict.fromkeys(formats))


MarkerFormats = Annotated[Strings, AfterValidator(check_formats)]


def folder_under_root(folder: str) -> str:
    """A folder given relative to a root, normalised ("APPROVED", "review/APPROVED"); "" stays ""."""
    return posixpath.normpath(folder.strip("/")) if folder.strip("/") else ""


@dataclass(frozen=True, config=SECTION)
class ApprovedAction(Section):
    notify: Flag = True  # an "approved" event for the notification rules and webhooks
    copy_to: Annotated[str, Strict()] = ""  # a folder under the root the approved master is copied into; "" = none

    @model_validator(mode="after")
    def check_folder(self) -> ApprovedAction:
        folder = folder_under_root(self.copy_to)
        if folder in (".", "..") or folder.startswith("../") or self.copy_to.startswith("/"):
            raise KeyProblem("copy_to", f"{self.copy_to!r}: a folder under the root, like APPROVED")
        return self

    @property
    def copy_folder(self) -> str:
        return folder_under_root(self.copy_to)


@dataclass(frozen=True, config=SECTION)
class PipelineReview(Section):
    """A pipeline's own choices; what it leaves out comes from the `review` section."""

    carry_comments: Flag | None = None
    markers: MarkerFormats | None = None
    on_approved: ApprovedAction | None = None


@dataclass(frozen=True)
class ReviewActions:
    """What one pipeline does with what comes back, resolved."""

    carry_comments: bool
    markers: tuple[str, ...]
    on_approved: ApprovedAction | None

    @property
    def writes_into_root(self) -> str:
        """The key of the first action that writes into the root ("" = none)."""
        if self.markers:
            return "markers"
        if self.on_approved is not None and self.on_approved.copy_folder:
            return "on_approved.copy_to"
        return ""


@dataclass(frozen=True, config=SECTION)
class ReviewConfig(Section):
    follow_days: NonNegativeSeconds = 14.0  # delivered files are followed this long; 0 = not followed
    poll_interval_s: PositiveSeconds = 300.0  # each followed file is asked about this often
    webhook_max_age_s: PositiveSeconds = 300.0  # an older (or newer) webhook delivery is refused
    approved_status: Annotated[str, Strict()] = "Approved"  # the review status that means approved
    carry_comments: Flag = False
    markers: MarkerFormats = ()
    on_approved: ApprovedAction | None = None  # none: an approval is shown, nothing else

    def actions(self, own: PipelineReview | None) -> ReviewActions:
        own = own or PipelineReview()
        return ReviewActions(
            carry_comments=self.carry_comments if own.carry_comments is None else own.carry_comments,
            markers=self.markers if own.markers is None else own.markers,
            on_approved=self.on_approved if own.on_approved is None else own.on_approved)

