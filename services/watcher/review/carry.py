"""Carrying comments forward (a pipeline's `review.carry_comments`): when PostFlow stacks a new
version, the unresolved comments of the version it replaces (the one just below it in the stack)
are copied onto it, at the same frame and for the same duration, their text marked as carried
with a link to the original:

    ↪ carried from v2 · Alice: the sky flickers · https://…/view/…?comment_id=…

A comment that was itself carried keeps its text (it names where it came from first).

Exactly once, even across a crash: the intent (source, target) is stored before the comment
is posted and the new comment's id after. An intent without an id (a crash, or an answer lost
in between) first looks among the new version's comments for one with the text it would post,
and adopts it; only if there is none is it posted.
"""

from __future__ import annotations

import logging

from frameio.types import Comment

from services.watcher.jobs import Job
from services.watcher.review.announce import comment_link
from services.watcher.review.clients import ReviewClients
from services.watcher.review.store import ReviewStore

log = logging.getLogger(__name__)

CARRIED_MARK = "↪ carried from"


def frame_of(comment: Comment) -> int:
    """The comment's frame (asked for in frames), -1 when it is on none."""
    stamp = comment.timestamp
    if isinstance(stamp, int):
        return stamp
    return int(stamp) if isinstance(stamp, str) and stamp.isdigit() else -1


def carried_text(comment: Comment, version: int, link: str) -> str:
    if comment.text.startswith(CARRIED_MARK):
        return comment.text
    owner = getattr(comment, "owner", None)
    author = (owner.name or owner.email) if owner is not None else "someone"
    return f"{CARRIED_MARK} v{version} · {author}: {comment.text}" + (f" · {link}" if link else "")


class CarryForward:
    def __init__(self, store: ReviewStore, clients: ReviewClients) -> None:
        self.store = store
        self.clients = clients

    async def carry(self, job: Job, account_id: str) -> int:
        """Copies the unresolved comments of the version below the job's file onto it; how many
        were copied (or adopted) now."""
        stack = await self.clients.client(job.connection).list_version_stack(account_id, job.stack_id)
        ids = [asset.id for asset in stack]  # newest first
        below = ids.index(job.file_id) + 1 if job.file_id in ids else 0
        if not below or below >= len(ids):
            log.info("comments not carried onto %s v%d: no earlier version in its stack", job.path, job.version)
            return 0
        previous = stack[below]
        review = self.clients.review(job.connection)
        sources = [c for c in await review.list_comments(account_id, previous.id) if c.completed_at is None]
        intents = await self.store.carried_into(job.file_id)
        on_target: list[Comment] | None = None
        count = 0
        for source in sources:
            if intents.get(source.id):
                continue
            text = carried_text(source, job.version - 1, comment_link(previous.view_url, source.id))
            if source.id in intents:  # intended before: it may be there already
                if on_target is None:
                    on_target = list(await review.list_comments(account_id, job.file_id))
                taken = set(intents.values())
                found = next((c.id for c in on_target if c.text == text and c.id not in taken), None)
                if found is not None:
                    await self.store.carried_as(source.id, job.file_id, found)
                    intents[source.id] = found
                    count += 1
                    continue
            else:
                await self.store.intend_carry(source.id, job.file_id)
            frame = frame_of(source)
            new = await review.create_comment(account_id, job.file_id, text, timestamp=frame if frame >= 0 else None,
                                              duration=source.duration)
            await self.store.carried_as(source.id, job.file_id, new.id)
            intents[source.id] = new.id
            count += 1
        if count:
            log.info("carried %d unresolved comment%s of v%d onto %s v%d", count, "s" * (count != 1),
                     job.version - 1, job.path, job.version)
        return count
