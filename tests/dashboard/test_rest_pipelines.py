"""The REST API's pipelines against the fake watcher: the pipeline on every job, the job list's
pipeline, state and name filters and its pages, `/api/pipelines`, `/api/unrouted`, and a 400
naming each parameter it cannot use."""

import pytest

from postflow.v1 import common_pb2

PIPELINES = ("features", "promos", "dailies")


def add_jobs(fakes, count: int) -> dict[str, list]:
    """`count` jobs spread over PIPELINES (every third one in the same pipeline), by pipeline."""
    made: dict[str, list] = {name: [] for name in PIPELINES}
    for index in range(count):
        name = PIPELINES[index % len(PIPELINES)]
        made[name].append(fakes.watcher.add_job(f"{name.upper()}/SH{index:04d}/shot_{index:04d}.mov", pipeline=name,
                                                connection=f"{name}-conn", project=f"{name} project",
                                                route_rule=f"rule {index % 2}"))
    return made


async def jobs(http, **params) -> dict:
    response = await http.get("/api/jobs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.asyncio
async def test_every_job_carries_its_pipeline_and_the_list_filters_by_pipeline_state_and_name(fakes, dashboard, http):
    made = add_jobs(fakes, 30)
    fakes.watcher.finish(made["promos"][0].id)
    fakes.watcher.update(made["features"][1].id, state=common_pb2.JOB_STATE_FAILED, error="refused")

    everything = await jobs(http, page_size=500)
    assert everything["total"] == 30
    first = next(job for job in everything["jobs"] if job["id"] == made["features"][0].id)
    assert (first["pipeline"], first["connection"], first["project"], first["route_rule"]) == (
        "features", "features-conn", "features project", "rule 0")
    assert all(job["pipeline"] in PIPELINES for job in everything["jobs"])
    assert (await http.get(f"/api/jobs/{made['dailies'][2].id}")).json()["pipeline"] == "dailies"

    promos = await jobs(http, pipeline="promos")
    assert promos["total"] == 10 and {job["pipeline"] for job in promos["jobs"]} == {"promos"}
    assert {job["id"] for job in promos["jobs"]} == {job.id for job in made["promos"]}
    two = await jobs(http, pipeline=["promos", "dailies"])
    assert two["total"] == 20 and {job["pipeline"] for job in two["jobs"]} == {"promos", "dailies"}
    assert (await jobs(http, pipeline="promos,dailies"))["total"] == 20, "a comma list too"
    assert (await jobs(http, pipeline="nobody"))["total"] == 0

    done = await jobs(http, pipeline="promos", state="done")
    assert [job["id"] for job in done["jobs"]] == [made["promos"][0].id]
    assert [job["id"] for job in (await jobs(http, state="failed"))["jobs"]] == [made["features"][1].id]

    found = await jobs(http, q="sh0004")  # any case, anywhere in the path
    assert [job["name"] for job in found["jobs"]] == ["shot_0004.mov"]
    assert (await jobs(http, q="shot_000"))["total"] == 10
    assert (await jobs(http, q="shot_000", pipeline="dailies"))["total"] == 3  # 0002, 0005, 0008
    assert (await jobs(http, q="  PROMOS/  "))["total"] == 10, "the search is trimmed"


@pytest.mark.asyncio
async def test_pages_walk_every_job_once_newest_first_and_hold_still_while_jobs_arrive(fakes, dashboard, http):
    add_jobs(fakes, 120)
    first = await jobs(http, page_size=50, pipeline="features")
    assert first["total"] == 40 and len(first["jobs"]) == 40 and first["next_page_token"] == ""

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await jobs(http, page_size=50, **({"page_token": token} if token else {}))
        seen += [job["id"] for job in page["jobs"]]
        pages += 1
        if pages == 1:
            fakes.watcher.add_job("LATE/arrival.mov")  # newer than every job listed: not on a later page
        token = page["next_page_token"]
        if not token:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 120
    created = [fakes.watcher.jobs[job_id].created_at.ToNanoseconds() for job_id in seen]
    assert created == sorted(created, reverse=True), "newest first"
    assert (await jobs(http, page_size=50))["total"] == 121


@pytest.mark.asyncio
async def test_pipelines_answer_their_job_counts_and_state(fakes, dashboard, http):
    add_jobs(fakes, 9)
    fakes.watcher.set_pipeline("features", root="/srv/features", connection="features-conn", project="Feature {show}",
                               on_start="new-only", waiting_on_start=4, after_delivery="move")
    fakes.watcher.set_pipeline("promos", root_available=False, root_problem="Transport endpoint is not connected")
    fakes.watcher.set_pipeline("dailies")
    fakes.watcher.add_unrouted("dailies", "notes/readme.txt", reason="no rule matches notes/readme.txt")
    job = next(iter(fakes.watcher.jobs.values()))
    fakes.watcher.finish(job.id)

    response = await http.get("/api/pipelines")
    assert response.status_code == 200
    by_name = {pipeline["name"]: pipeline for pipeline in response.json()["pipelines"]}
    assert set(by_name) == {"default", *PIPELINES}
    assert by_name["features"] == {
        "name": "features", "root": "/srv/features", "connection": "features-conn", "project": "Feature {show}",
        "jobs": 3, "jobs_by_state": {"queued": 2, "done": 1}, "unrouted": 0, "waiting_on_start": 4,
        "root_available": True, "root_problem": "", "on_start": "new-only", "after_delivery": "move"}
    assert (by_name["promos"]["root_available"], by_name["promos"]["root_problem"]) == (
        False, "Transport endpoint is not connected")
    assert by_name["dailies"]["unrouted"] == 1 and by_name["default"]["jobs"] == 0


@pytest.mark.asyncio
async def test_unrouted_files_are_listed_per_pipeline_with_their_reason_a_page_at_a_time(fakes, dashboard, http):
    for name in PIPELINES:
        fakes.watcher.set_pipeline(name)
    for index in range(5):
        fakes.watcher.add_unrouted("promos", f"misc/clip_{index}.mxf", reason="no rule matches misc/*", size=index)
    fakes.watcher.add_unrouted("dailies", "README.txt", reason="no rule matches README.txt")

    everything = (await http.get("/api/unrouted")).json()
    assert everything["total"] == 6 and everything["next_page_token"] == ""
    both = (await http.get("/api/unrouted", params={"pipeline": "promos,dailies"})).json()
    assert both["total"] == 6
    readme = (await http.get("/api/unrouted", params={"pipeline": "dailies"})).json()
    assert readme["total"] == 1
    (file,) = readme["files"]
    assert file["pipeline"] == "dailies" and file["path"] == "README.txt" and file["name"] == "README.txt"
    assert file["reason"] == "no rule matches README.txt" and file["seen_at"]

    paths: list[str] = []
    params = {"pipeline": "promos", "page_size": 2}
    while True:
        page = (await http.get("/api/unrouted", params=params)).json()
        assert len(page["files"]) <= 2 and page["total"] == 5
        paths += [file["path"] for file in page["files"]]
        if not page["next_page_token"]:
            break
        params["page_token"] = page["next_page_token"]
    assert sorted(paths) == [f"misc/clip_{index}.mxf" for index in range(5)]
    assert {file["pipeline"] for file in everything["files"]} == {"promos", "dailies"}
    assert (await http.get("/api/unrouted", params={"pipeline": "features"})).json() == {
        "files": [], "next_page_token": "", "total": 0}
    unknown = await http.get("/api/unrouted", params={"pipeline": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]


BAD_PARAMETERS = [
    ("/api/jobs", {"pipeline": "two words"}, "pipeline: 'two words' is not a pipeline name"),
    ("/api/jobs", {"pipeline": "ok,../etc"}, "pipeline: '../etc' is not a pipeline name"),
    ("/api/jobs", {"q": "x" * 201}, "q: at most 200 characters"),
    ("/api/jobs", {"pipelines": "promos"}, "pipelines: not a parameter of this list (it takes state, pipeline, q"),
    ("/api/jobs", {"page_size": ["10", "20"]}, "page_size: given 2 times, expected once"),
    ("/api/jobs", {"q": ["a", "b"]}, "q: given 2 times"),
    ("/api/jobs", {"page_size": "0"}, "page_size: expected a whole number from 1 to 500"),
    ("/api/jobs", {"page_token": "before-x"}, "page_token"),
    ("/api/pipelines", {"pipeline": "promos"}, "pipeline: not a parameter of this list (it takes none)"),
    ("/api/unrouted", {"q": "x"}, "q: not a parameter of this list (it takes pipeline, page_size, page_token)"),
    ("/api/unrouted", {"page_size": "501"}, "page_size: expected a whole number from 1 to 500"),
    ("/api/unrouted", {"page_token": "nonsense"}, "page_token"),
]


@pytest.mark.asyncio
async def test_a_parameter_a_list_cannot_use_is_a_400_naming_it(fakes, dashboard, http):
    for url, params, named in BAD_PARAMETERS:
        response = await http.get(url, params=params)
        assert response.status_code == 400, (url, params, response.text)
        assert named in response.json()["error"], (url, params)
