"""/api/sessions with real kernels: every route, field and error."""

from __future__ import annotations

import asyncio

import pytest

# The session API over real kernels runs on SQLite only (it is kernel-bound and long); the
# PostgreSQL session store is tested through test_manager.py and the store tests.
pytestmark = pytest.mark.sqlite_only

KERNEL_FIELDS = {"id", "name", "last_activity", "execution_state", "connections"}


async def start_session(api, path="nb.ipynb", **extra):
    body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": "python3"}}
    body.update(extra)
    response = await api.post("api/sessions", body)
    assert response.status == 201, response.body
    return response


async def kernel_ids(api) -> set[str]:
    return {k["id"] for k in (await api.get("api/kernels")).json()}


@pytest.mark.gen_test(timeout=90)
async def test_post_starts_a_kernel_and_returns_the_full_model(api):
    response = await start_session(api)
    session = response.json()
    assert {"id", "path", "name", "type", "kernel"} <= set(session)
    assert (session["path"], session["name"], session["type"]) == ("nb.ipynb", "nb.ipynb", "notebook")
    assert set(session["kernel"]) >= KERNEL_FIELDS and session["kernel"]["name"] == "python3"
    assert response.headers["Location"] == f"/api/sessions/{session['id']}"
    assert await kernel_ids(api) == {session["kernel"]["id"]}
    assert (await api.get(f"api/sessions/{session['id']}")).json()["id"] == session["id"]
    assert [s["id"] for s in (await api.get("api/sessions")).json()] == [session["id"]]


@pytest.mark.gen_test(timeout=90)
async def test_post_for_a_path_with_a_session_returns_that_session(api):
    first = (await start_session(api)).json()
    again, concurrent = await asyncio.gather(start_session(api), start_session(api))
    assert again.json()["id"] == first["id"] == concurrent.json()["id"]
    assert len(await kernel_ids(api)) == 1


@pytest.mark.gen_test(timeout=90)
async def test_post_without_kernel_uses_the_default_kernel(api):
    body = {"path": "x.ipynb", "type": "notebook"}
    session = (await api.post("api/sessions", body)).json()
    assert session["kernel"]["name"] == "python3"


@pytest.mark.gen_test(timeout=90)
async def test_post_attaches_an_existing_kernel_by_id(api):
    kernel = (await api.post("api/kernels", {"name": "python3"})).json()
    session = (await start_session(api, kernel={"id": kernel["id"]})).json()
    assert session["kernel"]["id"] == kernel["id"] and await kernel_ids(api) == {kernel["id"]}


@pytest.mark.gen_test(timeout=90)
async def test_patch_changes_path_name_and_type(api):
    session = (await start_session(api)).json()
    response = await api.patch(f"api/sessions/{session['id']}",
                               {"path": "renamed.ipynb", "name": "renamed", "type": "console"})
    assert response.status == 200
    changed = response.json()
    assert (changed["path"], changed["name"], changed["type"]) == ("renamed.ipynb", "renamed", "console")
    assert changed["kernel"]["id"] == session["kernel"]["id"]


@pytest.mark.gen_test(timeout=90)
async def test_patch_with_an_empty_object_changes_nothing_and_answers_the_session(api):
    session = (await start_session(api)).json()
    response = await api.patch(f"api/sessions/{session['id']}", {})
    assert response.status == 200
    assert {key: value for key, value in response.json().items() if key != "kernel"} == {
        key: value for key, value in session.items() if key != "kernel"}
    assert response.json()["kernel"]["id"] == session["kernel"]["id"]
    assert (await api.patch("api/sessions/nope", {})).status == 404


@pytest.mark.gen_test(timeout=120)
async def test_patch_kernel_by_name_starts_a_new_kernel_and_stops_the_old(api):
    session = (await start_session(api)).json()
    old_kernel = session["kernel"]["id"]
    changed = (await api.patch(f"api/sessions/{session['id']}", {"kernel": {"name": "python3"}})).json()
    assert changed["kernel"]["id"] != old_kernel
    assert await kernel_ids(api) == {changed["kernel"]["id"]}


@pytest.mark.gen_test(timeout=120)
async def test_patch_kernel_by_id_attaches_that_kernel(api):
    session = (await start_session(api)).json()
    other = (await api.post("api/kernels", {"name": "python3"})).json()
    changed = (await api.patch(f"api/sessions/{session['id']}", {"kernel": {"id": other["id"]}})).json()
    assert changed["kernel"]["id"] == other["id"]


@pytest.mark.gen_test(timeout=90)
async def test_delete_ends_the_session_and_its_kernel(api):
    session = (await start_session(api)).json()
    response = await api.delete(f"api/sessions/{session['id']}")
    assert response.status == 204
    assert (await api.get("api/sessions")).json() == [] and await kernel_ids(api) == set()
    assert (await api.get(f"api/sessions/{session['id']}")).status == 404


@pytest.mark.gen_test(timeout=90)
async def test_session_whose_kernel_was_shut_down_is_pruned(api):
    session = (await start_session(api)).json()
    assert (await api.delete(f"api/kernels/{session['kernel']['id']}")).status == 204
    assert (await api.get("api/sessions")).json() == []
    assert (await api.get(f"api/sessions/{session['id']}")).status == 404


@pytest.mark.gen_test(timeout=90)
async def test_renaming_the_notebook_moves_its_session(api, root_dir):
    (root_dir / "dir").mkdir()
    (await api.put("api/contents/dir/nb.ipynb")).json()
    session = (await start_session(api, path="dir/nb.ipynb")).json()
    assert (await api.patch("api/contents/dir/nb.ipynb", {"path": "dir/new.ipynb"})).status == 200
    assert (await api.get(f"api/sessions/{session['id']}")).json()["path"] == "dir/new.ipynb"
    assert (await api.patch("api/contents/dir", {"path": "moved"})).status == 200
    assert (await api.get(f"api/sessions/{session['id']}")).json()["path"] == "moved/new.ipynb"


BAD_BODIES = [
    ({"type": "notebook", "kernel": {"name": "python3"}}, 400),                  # no path
    ({"path": "a.ipynb", "kernel": {"name": "python3"}}, 400),                   # no type
    ({"path": "a.ipynb", "type": "notebook", "kernel": {"name": "no-such"}}, 400),  # unknown kernel name
    ({"path": "a.ipynb", "type": "notebook", "kernel": {"id": "1-2-3-4-5"}}, 400),  # kernel id not a UUID
    ({"path": "a.ipynb", "type": "notebook", "kernel": "python3"}, 400),         # kernel not an object
    ({"path": 5, "type": "notebook"}, 400),                                      # path not a string
    ([], 400),                                                                   # not an object
]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("body,status", BAD_BODIES)
async def test_bad_session_requests_get_json_errors_and_start_nothing(api, body, status):
    response = await api.post("api/sessions", body)
    assert response.status == status and set(response.json()) == {"message", "reason"}
    assert await kernel_ids(api) == set() and (await api.get("api/sessions")).json() == []


@pytest.mark.gen_test(timeout=30)
async def test_unknown_session_is_404(api):
    assert (await api.get("api/sessions/nope")).status == 404
    assert (await api.patch("api/sessions/nope", {"path": "x"})).status == 404
    assert (await api.delete("api/sessions/nope")).status == 404


@pytest.mark.gen_test(timeout=90)
async def test_patch_with_unknown_kernel_changes_nothing(api):
    session = (await start_session(api)).json()
    for body, status in (({"kernel": {"id": "1-2-3-4-5"}}, 400), ({"kernel": {"name": "no-such"}}, 400),
                         ({"kernel": {}}, 400), ({"path": 3}, 400)):
        assert (await api.patch(f"api/sessions/{session['id']}", body)).status == status
    assert (await api.get(f"api/sessions/{session['id']}")).json() == session | {
        "kernel": (await api.get(f"api/sessions/{session['id']}")).json()["kernel"]}
    assert await kernel_ids(api) == {session["kernel"]["id"]}


OUTSIDE_PATHS = ["../x.ipynb", "a/../../x.ipynb", "..", "../../etc/passwd", "sub/..", "x\x00.ipynb", "/", ""]


@pytest.mark.gen_test(timeout=90)
async def test_session_paths_stay_inside_the_root(api):
    kernel = (await api.post("api/kernels", {"name": "python3"})).json()
    for path in OUTSIDE_PATHS:
        body = {"path": path, "type": "notebook", "name": "x", "kernel": {"id": kernel["id"]}}
        response = await api.post("api/sessions", body)
        assert response.status == 400, (path, response.body)
        assert set(response.json()) == {"message", "reason"}
    assert (await api.get("api/sessions")).json() == []
    assert await kernel_ids(api) == {kernel["id"]}


@pytest.mark.gen_test(timeout=90)
async def test_patch_to_a_path_outside_the_root_is_400_and_changes_nothing(api):
    session = (await start_session(api)).json()
    for path in OUTSIDE_PATHS:
        response = await api.patch(f"api/sessions/{session['id']}", {"path": path})
        assert response.status == 400, (path, response.body)
    assert (await api.get(f"api/sessions/{session['id']}")).json()["path"] == "nb.ipynb"


@pytest.mark.gen_test(timeout=90)
async def test_session_paths_take_the_contents_canonical_form(api):
    session = (await start_session(api, path="/sub//nb.ipynb")).json()
    assert session["path"] == "sub/nb.ipynb"
    # Percent-escapes in a JSON body are characters of a name, not "..": it stays inside the root.
    patched = await api.patch(f"api/sessions/{session['id']}", {"path": "%2e%2e/nb.ipynb"})
    assert patched.status == 200 and patched.json()["path"] == "%2e%2e/nb.ipynb"
    # The same file by another spelling finds the same session.
    assert (await start_session(api, path="./%2e%2e/nb.ipynb")).json()["id"] == session["id"]
