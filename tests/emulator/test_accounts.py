"""Several users, accounts and OAuth clients in one emulator: each token acts as its user, who
sees only their own accounts and never reaches another's; refresh tokens stay with their
client; `login_hint` picks who logs in."""

import base64
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from frameio import AsyncFrameio
from frameio.types import AccountsResponse, Forbidden, ProfileResponse

from postflow.emulator.frameio_api import frameio_routes
from postflow.emulator.options import DEV_CLIENT_ID, DEV_CLIENT_SECRET, EmulatorOptions
from postflow.emulator.seed import AccountSpec, ClientSpec, ProjectSpec, SeedSpec, UserSpec, WorkspaceSpec
from postflow.testing.emulator import client_credentials_token, emulator_report
from postflow.testing.frameio_sdk import USER_SCOPE
from tests.emulator.test_frameio_api import new_file

ANN, BOB, CAROL = "ann@studio-a.test", "bob@studio-b.test", "carol@both.test"
STUDIO_B_CLIENT, STUDIO_B_SECRET = "studio-b-app", "studio-b-secret"
REDIRECT_URI = "https://127.0.0.1:8000/auth/callback"
SEED = SeedSpec(
    users=(UserSpec("Ann", ANN), UserSpec("Bob", BOB), UserSpec("Carol", CAROL)),
    accounts=(
        AccountSpec("Studio A", members=(ANN, CAROL),
                    workspaces=(WorkspaceSpec("Shows A", projects=(ProjectSpec("Show One"),)),)),
        AccountSpec("Studio B", members=(BOB, CAROL),
                    workspaces=(WorkspaceSpec("Shows B", projects=(ProjectSpec("Show Two"),)), WorkspaceSpec("Empty")),
                    admins=(CAROL,)),
    ),
    clients=(ClientSpec(STUDIO_B_CLIENT, STUDIO_B_SECRET, user=BOB, technical_user=BOB),),
)


@pytest.fixture
def options() -> EmulatorOptions:
    return EmulatorOptions(seed=SEED, transcode_delay_s=0.3)


@pytest.fixture
def studio(seeded) -> dict:
    """The seeded ids by name: {"A": account, "B": account}, each with its workspaces and projects."""
    return {account["name"][-1]: account for account in seeded["accounts"]}


async def authorize(emulator, client_id: str, hint: str | None = None, scope: str = USER_SCOPE) -> httpx.Response:
    params = {"client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": scope}
    if hint is not None:
        params["login_hint"] = hint
    async with httpx.AsyncClient() as browser:
        return await browser.get(f"{emulator.url}/ims/authorize/v2", params=params)


async def ims_token(emulator, client_id: str, secret: str, **form: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{emulator.url}/ims/token/v3",
                               data={"client_id": client_id, "client_secret": secret, **form})


async def login(emulator, client_id: str = DEV_CLIENT_ID, secret: str = DEV_CLIENT_SECRET,
                hint: str | None = None) -> dict:
    """The web app flow: authorize (approved at once) and redeem the code; the token response."""
    answer = await authorize(emulator, client_id, hint)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = await ims_token(emulator, client_id, secret, grant_type="authorization_code", code=code,
                             redirect_uri=REDIRECT_URI)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def who(emulator, http, responses, token: str) -> tuple[str, list[str]]:
    """The e-mail `token` acts as and the account ids it lists, each body checked against the SDK."""
    sdk = AsyncFrameio(base_url=emulator.url, token=token, httpx_client=http)
    profile = await sdk.users.show()
    assert responses.parse(ProfileResponse).data.email == profile.data.email
    await sdk.accounts.index()
    return profile.data.email, [account.id for account in responses.parse(AccountsResponse).data]


def claims(id_token: str) -> dict:
    body = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest_asyncio.fixture
async def bob_token(emulator) -> str:
    return await client_credentials_token(emulator.url, client_id=STUDIO_B_CLIENT, client_secret=STUDIO_B_SECRET)


@pytest.mark.asyncio
async def test_each_user_sees_only_the_accounts_they_belong_to(emulator, http, responses, seeded, studio, token,
                                                               bob_token):
    a, b = studio["A"]["id"], studio["B"]["id"]
    assert await who(emulator, http, responses, token) == (ANN, [a]), "the default client's technical user"
    assert await who(emulator, http, responses, bob_token) == (BOB, [b]), "the studio-b client's technical user"
    assert responses.parse(AccountsResponse).data[0].roles == ["owner"], "the first member owns the account"
    carol = await login(emulator, hint=CAROL)
    assert await who(emulator, http, responses, carol["access_token"]) == (CAROL, [a, b])
    assert [account.roles for account in responses.parse(AccountsResponse).data] == [["member"], ["admin"]]
    assert [account["admins"] for account in seeded["accounts"]] == [[ANN], [BOB, CAROL]], "the owner and the listed"
    users = {user["email"]: user["id"] for user in seeded["users"]}
    assert [(t["client_id"], t["user_id"]) for t in emulator.state.tokens.describe() if t["kind"] == "access"] == [
        (DEV_CLIENT_ID, users[ANN]), (STUDIO_B_CLIENT, users[BOB]), (DEV_CLIENT_ID, users[CAROL])]


async def studio_b_assets(emulator, http, bob_token: str, studio: dict) -> dict:
    """Bob's files in Studio B: two in the root folder of Show Two, stacked. The ids by path key."""
    b = studio["B"]
    workspace = b["workspaces"][0]
    project = workspace["projects"][0]
    sdk = AsyncFrameio(base_url=emulator.url, token=bob_token, httpx_client=http)
    seeded = {"account_id": b["id"]}
    files = [await new_file(sdk, seeded, project["root_folder_id"], name) for name in ("v1.mov", "v2.mov")]
    stack = await http.post(f"{emulator.url}/v4/accounts/{b['id']}/folders/{project['root_folder_id']}/version_stacks",
                            json={"data": {"file_ids": files}}, headers={"Authorization": f"Bearer {bob_token}"})
    assert stack.status_code == 201, stack.text
    return {"workspace_id": workspace["id"], "project_id": project["id"], "folder_id": project["root_folder_id"],
            "file_id": files[0], "stack_id": stack.json()["data"]["id"], "files": files}


def account_routes() -> list[tuple[str, str]]:
    """(method, path template) of every Frame.io route under an account."""
    return [(method, route.path) for route in frameio_routes() if "{account_id}" in route.path
            for method in sorted(route.methods or ()) if method != "HEAD"]


def any_body(ids: dict) -> dict:
    """One body that would do for every POST and PATCH route (each reads its own keys)."""
    return {"data": {"name": "x", "file_size": 10, "source_url": "http://127.0.0.1:9/x", "file_ids": ids["files"],
                     "parent_id": ids["folder_id"], "target_file_id": ids["file_id"], "move_to": "bottom"}}


@pytest.mark.asyncio
async def test_a_token_never_reaches_an_account_its_user_is_not_a_member_of(emulator, http, studio, token, bob_token):
    ids = await studio_b_assets(emulator, http, bob_token, studio)
    before = await emulator_report(emulator.url)
    ann = {"Authorization": f"Bearer {token}"}
    routes = account_routes()
    assert len(routes) >= 17 and ("POST", "/v4/accounts/{account_id}/workspaces/{workspace_id}/projects") in routes
    for method, template in routes:
        path = template.format(account_id=studio["B"]["id"], **ids)
        answer = await http.request(method, f"{emulator.url}{path}", headers=ann,
                                    json=any_body(ids) if method in ("POST", "PATCH") else None)
        assert answer.status_code == 403, (method, template, answer.text)
        assert Forbidden.model_validate(answer.json()).errors[0].detail == \
            f"You are not a member of account {studio['B']['id']}"
        assert "x-ratelimit-limit" not in answer.headers, "another account's bucket is not touched"
    unknown = await http.get(f"{emulator.url}/v4/accounts/{uuid.uuid4()}/workspaces", headers=ann)
    assert unknown.status_code == 404, "an account that does not exist is not found"
    assert await emulator_report(emulator.url) == before, "nothing of Studio B changed"


@pytest.mark.asyncio
async def test_ids_of_one_account_are_not_found_under_another(emulator, http, studio, bob_token):
    """Carol belongs to both studios: Studio B's ids asked for under Studio A are unknown there."""
    ids = await studio_b_assets(emulator, http, bob_token, studio)
    carol_token = (await login(emulator, hint=CAROL))["access_token"]
    carol = {"Authorization": f"Bearer {carol_token}"}
    a = studio["A"]["id"]
    own_root = studio["A"]["workspaces"][0]["projects"][0]["root_folder_id"]
    own_file = await new_file(AsyncFrameio(base_url=emulator.url, token=carol_token, httpx_client=http),
                              {"account_id": a}, own_root, "a.mov")
    before = await emulator_report(emulator.url)
    b_project = (studio["B"]["id"], ids["project_id"])
    assert [(f["account_id"], f["project_id"]) for f in before["files"]] == [
        b_project, b_project, (a, studio["A"]["workspaces"][0]["projects"][0]["id"])], "the report says whose"
    keyed = [(method, template) for method, template in account_routes() if template.count("{") > 1]
    for method, template in keyed:
        answer = await http.request(method, f"{emulator.url}{template.format(account_id=a, **ids)}", headers=carol,
                                    json=any_body(ids) if method in ("POST", "PATCH") else None)
        assert answer.status_code == 404, (method, template, answer.text)
    moved = await http.patch(f"{emulator.url}/v4/accounts/{a}/files/{own_file}/move",
                             json={"data": {"parent_id": ids["stack_id"]}}, headers=carol)
    assert moved.status_code == 404, "a file does not move into another account's stack"
    stacked = await http.post(f"{emulator.url}/v4/accounts/{a}/folders/{own_root}/version_stacks",
                              json={"data": {"file_ids": [own_file, ids["files"][1]]}}, headers=carol)
    assert stacked.status_code == 404, "nor is another account's file stacked with it"
    assert await emulator_report(emulator.url) == before


@pytest.mark.asyncio
async def test_login_hint_picks_who_logs_in_else_the_clients_user(emulator, http, responses, seeded):
    assert (await who(emulator, http, responses, (await login(emulator))["access_token"]))[0] == ANN
    studio_b = await login(emulator, STUDIO_B_CLIENT, STUDIO_B_SECRET)
    assert (await who(emulator, http, responses, studio_b["access_token"]))[0] == BOB
    hinted = await login(emulator, hint="Carol@Both.TEST")
    assert (await who(emulator, http, responses, hinted["access_token"]))[0] == CAROL, "e-mails match in any case"
    users = {user["email"]: user["id"] for user in seeded["users"]}
    assert claims(hinted["id_token"])["sub"] == users[CAROL] and claims(hinted["id_token"])["aud"] == DEV_CLIENT_ID
    assert claims(studio_b["id_token"])["aud"] == STUDIO_B_CLIENT
    unknown = await authorize(emulator, DEV_CLIENT_ID, hint="dave@nowhere.test")
    assert unknown.status_code == 400 and "location" not in unknown.headers
    assert unknown.json()["error"] == "invalid_request"
    assert "dave@nowhere.test" in unknown.json()["error_description"] and ANN in unknown.json()["error_description"]


@pytest.mark.asyncio
async def test_refresh_tokens_and_codes_stay_with_their_client_and_user(emulator, http, responses):
    carol = await login(emulator, STUDIO_B_CLIENT, STUDIO_B_SECRET, hint=CAROL)
    refresh = {"grant_type": "refresh_token", "refresh_token": carol["refresh_token"]}
    other_client = await ims_token(emulator, DEV_CLIENT_ID, DEV_CLIENT_SECRET, **refresh)
    assert (other_client.status_code, other_client.json()["error"]) == (400, "invalid_grant")
    wrong_secret = await ims_token(emulator, STUDIO_B_CLIENT, DEV_CLIENT_SECRET, **refresh)
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    refreshed = await ims_token(emulator, STUDIO_B_CLIENT, STUDIO_B_SECRET, **refresh)
    assert refreshed.status_code == 200, "refused attempts did not use the refresh token up"
    assert (await who(emulator, http, responses, refreshed.json()["access_token"]))[0] == CAROL

    answer = await authorize(emulator, STUDIO_B_CLIENT, hint=BOB)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    stolen = await ims_token(emulator, DEV_CLIENT_ID, DEV_CLIENT_SECRET, grant_type="authorization_code", code=code,
                             redirect_uri=REDIRECT_URI)
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_grant"), "a code is its client's"
    unknown_client = await ims_token(emulator, "nobody", "x", grant_type="client_credentials")
    assert (unknown_client.status_code, unknown_client.json()["error"]) == (401, "invalid_client")
