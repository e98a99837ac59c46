"""Comments on the emulator through the official SDK: any member of the account comments with
its own token, every answer validates against the SDK's models, bad bodies get a 422 naming
the field, completion and edits are stamped; and a reviewer comments through the extras."""

import httpx
import pytest
from frameio.comments import CreateCommentParamsData, UpdateCommentParamsData
from frameio.errors import NotFoundError, TooManyRequestsError
from frameio.types import CommentResponse, CommentsWithIncludesResponse, CommentWithIncludesResponse

from postflow.testing.emulator import add_review_comment, complete_review_comment, set_media_timing
from postflow.testing.frameio_sdk import NO_RETRIES
from tests.emulator.conftest import REVIEW
from tests.emulator.test_frameio_api import new_file

pytestmark = pytest.mark.parametrize("options", [REVIEW])


@pytest.mark.asyncio
async def test_a_reviewer_comments_with_its_own_token_and_every_answer_parses(sdk, reviewer_sdk, responses, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    created = await reviewer_sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(
        text="Cut earlier", timestamp=48, duration=24))
    assert responses.last.status_code == 201
    comment = responses.parse(CommentResponse).data
    assert (comment.id, comment.file_id, comment.text, comment.timestamp, comment.duration) == (
        created.data.id, file_id, "Cut earlier", 48, 24)
    assert comment.completed_at is None and comment.mentions == [] and comment.attachments == []

    for text in ("second", "third"):
        await sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(text=text))
    pager = await sdk.comments.index(account_id, file_id, include="owner", page_size=2)
    first = responses.parse(CommentsWithIncludesResponse)
    assert [c.text for c in first.data] == ["Cut earlier", "second"]
    assert first.links.next.startswith(f"/v4/accounts/{account_id}/files/{file_id}/comments?after=")
    assert first.data[0].owner.email == "rey@a.test" and first.data[1].owner.email == "ann@a.test"
    assert [c.text async for c in pager] == ["Cut earlier", "second", "third"]

    await sdk.comments.show(account_id, comment.id, include="owner")
    shown = responses.parse(CommentWithIncludesResponse).data
    assert (shown.id, shown.owner.name) == (comment.id, "Rey Reviewer")


@pytest.mark.asyncio
async def test_bad_comment_bodies_get_a_422_naming_the_field(sdk, token, emulator, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    url = f"{emulator.url}/v4/accounts/{account_id}/files/{file_id}/comments"
    cases = [({"timestamp": 10}, "/data/text", "text is required"),
             ({"text": " "}, "/data/text", "text is required"),
             ({"text": "x", "duration": 12}, "/data/duration", "duration needs timestamp"),
             ({"text": "x", "timestamp": -1}, "/data/timestamp", "whole number of frames"),
             ({"text": "x", "timestamp": "01:00:00:00"}, "/data/timestamp", "whole number of frames"),
             ({"text": "x", "page": 2}, "/data/page", "PDF"),
             ({"text": "x", "anchor": {"x": 2, "y": 0}}, "/data/anchor", "from 0 to 1")]
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        for body, pointer, detail in cases:
            answer = await http.post(url, json={"data": body})
            assert answer.status_code == 422, body
            error = answer.json()["errors"][0]
            assert error["source"]["pointer"] == pointer and detail in error["detail"], (body, error)
        assert (await http.get(url)).json()["data"] == [], "nothing was created"
        assert (await http.get(url, params={"sort": "created_at"})).status_code == 400, "sorts are *_asc/*_desc"


@pytest.mark.asyncio
async def test_completion_and_edits_are_stamped_and_a_deleted_comment_is_gone(sdk, reviewer_sdk, responses, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    created = (await sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(text="Fix"))).data
    await reviewer_sdk.comments.update(account_id, created.id, data=UpdateCommentParamsData(completed=True))
    completed = responses.parse(CommentResponse).data
    assert completed.completed_at is not None and completed.completer_id == seeded["users"][1]["id"]
    assert completed.text_edited_at is None and completed.text == "Fix"

    await sdk.comments.update(account_id, created.id, data=UpdateCommentParamsData(text="Fix the flare",
                                                                                  completed=False))
    edited = responses.parse(CommentResponse).data
    assert edited.text == "Fix the flare" and edited.text_edited_at is not None
    assert edited.completed_at is None and edited.completer_id is None

    await sdk.comments.delete(account_id, created.id)
    assert responses.last.status_code == 204
    with pytest.raises(NotFoundError):
        await sdk.comments.show(account_id, created.id, request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_timestamps_answer_as_timecode_at_the_files_rate(sdk, emulator, responses, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    await set_media_timing(emulator.url, file_id, frame_rate=29.97, start_timecode="01:00:00;00", duration_s=90)
    await sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(text="one minute", timestamp=1800))
    await sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(text="as timecode",
                                                                               timestamp="00:00:10;00"),
                              timestamp_as_timecode=True)
    assert responses.parse(CommentResponse).data.timestamp == "00:00:10;00"
    await sdk.comments.index(account_id, file_id, timestamp_as_timecode=True)
    assert [c.timestamp for c in responses.parse(CommentsWithIncludesResponse).data] == ["00:01:00;02", "00:00:10;00"]
    await sdk.comments.index(account_id, file_id)
    assert [c.timestamp for c in responses.parse(CommentsWithIncludesResponse).data] == [1800, 300]


@pytest.mark.asyncio
async def test_updates_are_limited_to_ten_a_minute(sdk, seeded, frozen_clock):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    created = (await sdk.comments.create(account_id, file_id, data=CreateCommentParamsData(text="v0"))).data
    for version in range(1, 11):
        await sdk.comments.update(account_id, created.id, data=UpdateCommentParamsData(text=f"v{version}"))
    with pytest.raises(TooManyRequestsError):
        await sdk.comments.update(account_id, created.id, data=UpdateCommentParamsData(text="v11"),
                                  request_options=NO_RETRIES)


@pytest.mark.asyncio
async def test_a_named_reviewer_comments_and_completes_through_the_extras(sdk, emulator, responses, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    added = await add_review_comment(emulator.url, file_id, "Too dark", timestamp=12, name="Vic Client",
                                     email="vic@client.test")
    assert added["owner"]["email"] == "vic@client.test" and added["timestamp"] == 12
    again = await add_review_comment(emulator.url, file_id, "Still dark", name="Vic Client", email="vic@client.test")
    assert again["owner"]["id"] == added["owner"]["id"], "the same e-mail is the same reviewer"
    done = await complete_review_comment(emulator.url, added["id"])
    assert done["completer_id"] == added["owner"]["id"] and done["completed_at"]

    await sdk.comments.index(account_id, file_id, include="owner,replies")
    listed = responses.parse(CommentsWithIncludesResponse).data
    assert [(c.text, c.owner.name, c.replies, c.completed_at is not None) for c in listed] == [
        ("Too dark", "Vic Client", [], True), ("Still dark", "Vic Client", [], False)]
    async with httpx.AsyncClient() as http:
        missing = await http.post(f"{emulator.url}/_emulator/files/nope/comments", json={"text": "x"})
        no_text = await http.post(f"{emulator.url}/_emulator/files/{file_id}/comments", json={})
    assert missing.status_code == 404 and no_text.status_code == 400 and "text" in no_text.json()["error"]
