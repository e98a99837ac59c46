"""A file's review status and media timing as Frame.io's metadata: the SDK parses the answer,
a reviewer sets the status with the documented bulk update, tests set both through the extras."""

import httpx
import pytest
from frameio.errors import UnprocessableEntityError
from frameio.metadata import BulkUpdateMetadataParamsData, BulkUpdateMetadataParamsDataValuesItem
from frameio.types import MetadataField_Select, MetadataResponse

from postflow.testing.emulator import set_media_timing, set_review_status
from postflow.testing.frameio_sdk import NO_RETRIES
from tests.emulator.conftest import REVIEW
from tests.emulator.test_frameio_api import new_file

pytestmark = pytest.mark.parametrize("options", [REVIEW])


def status_of(metadata: MetadataResponse) -> MetadataField_Select:
    field = next(f for f in metadata.data.metadata if f.field_definition_name == "Status")
    assert isinstance(field, MetadataField_Select)
    return field


@pytest.mark.asyncio
async def test_metadata_holds_the_status_and_the_timing_once_known(sdk, emulator, responses, seeded):
    account_id = seeded["account_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    await sdk.metadata.show(account_id, file_id)
    metadata = responses.parse(MetadataResponse)
    status = status_of(metadata)
    assert metadata.data.file_id == file_id and [f.field_definition_name for f in metadata.data.metadata] == ["Status"]
    assert status.value == [] and status.mutable
    assert [o.display_name for o in status.field_options] == ["Needs Review", "In Progress", "Approved", "Rejected"]

    await set_media_timing(emulator.url, file_id, frame_rate=23.976, start_timecode="01:00:00:00", duration_s=12.5)
    await set_review_status(emulator.url, file_id, "In Progress")
    await sdk.metadata.show(account_id, file_id)
    metadata = responses.parse(MetadataResponse)
    timing = {f.field_definition_name: (f.field_type, f.value, f.mutable) for f in metadata.data.metadata[1:]}
    assert timing == {"Frame Rate": ("number", 23.976, False), "Start Timecode": ("text", "01:00:00:00", False),
                      "Duration": ("number", 12.5, False)}
    assert [o.display_name for o in status_of(metadata).value] == ["In Progress"]

    async with httpx.AsyncClient() as http:
        timing_url = f"{emulator.url}/_emulator/files/{file_id}/media_timing"
        drop_at_25 = await http.put(timing_url, json={"frame_rate": 25, "start_timecode": "01:00:00;00"})
        bad_status = await http.put(f"{emulator.url}/_emulator/files/{file_id}/review_status",
                                    json={"status": "Done"})
    assert drop_at_25.status_code == 400 and "drop-frame" in drop_at_25.json()["error"]
    assert bad_status.status_code == 400 and "Approved" in bad_status.json()["error"]


@pytest.mark.asyncio
async def test_a_reviewer_sets_the_status_with_the_bulk_update(sdk, reviewer_sdk, responses, seeded):
    account_id, project_id = seeded["account_id"], seeded["project_id"]
    file_id = await new_file(sdk, seeded, seeded["root_folder_id"], "A001.mov")
    await sdk.metadata.show(account_id, file_id)
    status = status_of(responses.parse(MetadataResponse))
    approved = next(o.id for o in status.field_options if o.display_name == "Approved")

    def values(value: list) -> BulkUpdateMetadataParamsData:
        return BulkUpdateMetadataParamsData(file_ids=[file_id], values=[
            BulkUpdateMetadataParamsDataValuesItem(field_definition_id=status.field_definition_id, value=value)])

    await reviewer_sdk.metadata.bulk_update(account_id, project_id, data=values([approved]))
    assert responses.last.status_code == 204
    await sdk.metadata.show(account_id, file_id)
    assert [o.display_name for o in status_of(responses.parse(MetadataResponse)).value] == ["Approved"]

    with pytest.raises(UnprocessableEntityError) as unknown:
        await reviewer_sdk.metadata.bulk_update(account_id, project_id, data=values(["no-such-option"]),
                                                request_options=NO_RETRIES)
    assert unknown.value.body["errors"][0]["source"]["pointer"] == "/data/values/0/value"
    other_project = seeded["accounts"][0]["workspaces"][0]["projects"][1]["id"]
    with pytest.raises(UnprocessableEntityError) as elsewhere:
        await reviewer_sdk.metadata.bulk_update(account_id, other_project, data=values([]),
                                                request_options=NO_RETRIES)
    assert f"not in project {other_project}" in elsewhere.value.body["errors"][0]["detail"]

    await reviewer_sdk.metadata.bulk_update(account_id, project_id, data=values([]))
    await sdk.metadata.show(account_id, file_id)
    assert status_of(responses.parse(MetadataResponse)).value == [], "an empty list clears the status"
