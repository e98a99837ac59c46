"""The Frame.io calls of the review loop: comments, a file's metadata (its review status and
media timing) and workspace webhooks, through the one FrameioClient (its token, pacing and
retries). Comment timestamps are asked for in frames, never as timecode."""

from __future__ import annotations

from frameio.comments import CreateCommentParamsData
from frameio.types import Comment, CommentWithIncludes, MetadataWithDefinition, Webhook, WebhookWithIncludes
from frameio.webhooks import WebhookCreateParamsData, WebhookUpdateParamsData

from postflow.frameio import PAGE_SIZE, FrameioClient

# Where Frame.io's webhooks reach PostFlow on the streamer's public server: HOOKS_PREFIX + the webhook's key.
HOOKS_PREFIX = "/hooks/frameio/"
# What PostFlow registers its webhooks for.
WEBHOOK_EVENTS = ("file.upload.completed", "file.ready", "file.versioned", "comment.created", "comment.updated",
                  "comment.deleted", "comment.completed", "comment.uncompleted", "metadata.value.updated")


class FrameioReview:
    def __init__(self, client: FrameioClient) -> None:
        self.client = client
        self.sdk = client.sdk

    async def list_comments(self, account_id: str, file_id: str) -> list[CommentWithIncludes]:
        """Every comment of the file, with its owner and replies, oldest first."""
        return await self.client.every_page("list comments", lambda after, o: self.sdk.comments.index(
            account_id, file_id, include="owner", sort="created_at_asc", timestamp_as_timecode=False, after=after,
            page_size=PAGE_SIZE, request_options=o), family="comment_list")

    async def show_comment(self, account_id: str, comment_id: str) -> CommentWithIncludes:
        response = await self.client.call("comment_show", lambda o: self.sdk.comments.show(
            account_id, comment_id, include="owner", timestamp_as_timecode=False, request_options=o),
            what="show comment")
        return response.data

    async def create_comment(self, account_id: str, file_id: str, text: str, *, timestamp: int | None = None,
                             duration: int | None = None) -> Comment:
        data = CreateCommentParamsData(text=text, timestamp=timestamp,
                                       duration=duration if timestamp is not None else None)
        response = await self.client.call("comment_create", lambda o: self.sdk.comments.create(
            account_id, file_id, data=data, timestamp_as_timecode=False, request_options=o),
            what="create comment", idempotent=False)
        return response.data

    async def show_metadata(self, account_id: str, file_id: str) -> MetadataWithDefinition:
        response = await self.client.call("metadata_show", lambda o: self.sdk.metadata.show(
            account_id, file_id, request_options=o), what="show metadata")
        return response.data

    async def list_webhooks(self, account_id: str, workspace_id: str) -> list[WebhookWithIncludes]:
        return await self.client.every_page("list webhooks", lambda after, o: self.sdk.webhooks.index(
            account_id, workspace_id, after=after, page_size=PAGE_SIZE, request_options=o))

    async def create_webhook(self, account_id: str, workspace_id: str, name: str, url: str,
                             events: tuple[str, ...] = WEBHOOK_EVENTS) -> tuple[Webhook, str]:
        """The new webhook and its secret, which Frame.io shows this once."""
        response = await self.client.call("webhook_change", lambda o: self.sdk.webhooks.create(
            account_id, workspace_id, data=WebhookCreateParamsData(name=name, url=url, events=list(events)),
            request_options=o), what="create webhook", idempotent=False)
        return response.data, response.data.secret

    async def update_webhook(self, account_id: str, webhook_id: str, *, url: str | None = None,
                             events: tuple[str, ...] | None = None, active: bool | None = None) -> Webhook:
        data = WebhookUpdateParamsData(url=url, events=None if events is None else list(events), active=active)
        response = await self.client.call("webhook_change", lambda o: self.sdk.webhooks.update(
            account_id, webhook_id, data=data, request_options=o), what="update webhook")
        return response.data

    async def delete_webhook(self, account_id: str, webhook_id: str) -> None:
        await self.client.call("other", lambda o: self.sdk.webhooks.delete(account_id, webhook_id, request_options=o),
                               what="delete webhook")
