"""/api/files ids, lookup and path, /api/fileid, ?file_id=1 and /api/trash against an in-process server.

The numbers in the test docstrings are the acceptance checklist items of file-services.md section 6.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from nbserver.auth.authorizer import Authorizer
from tests.support.api_client import APIClient

NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# quasar"]}], "metadata": {},
            "nbformat": 4, "nbformat_minor": 4}
FILE_FIELDS = {"id", "name", "path", "type", "mimetype", "size", "created", "last_modified", "parent", "parent_path",
               "owner", "title", "world_readable", "share_url", "starred", "trashed", "explicitly_trashed",
               "trashed_at", "current_user_permission", "version", "api_urls", "web_url"}


async def save(api: APIClient, path: str, text: str | None = None) -> None:
    body: dict[str, Any] = ({"type": "notebook", "content": NOTEBOOK} if text is None
                            else {"type": "file", "format": "text", "content": text})
    response = await api.put(f"api/contents/{path}", body)
    assert response.status in (200, 201), response.body


async def file_id(api: APIClient, path: str) -> str:
    response = await api.get("api/files/lookup", params={"path": path})
    assert response.status == 200, response.body
    return str(response.json()["id"])


async def mkdir(api: APIClient, path: str) -> None:
    assert (await api.put(f"api/contents/{path}", {"type": "directory"})).status in (200, 201)


@pytest.mark.gen_test
async def test_get_by_id_has_every_file_field_and_etag(api: APIClient) -> None:
    """6"""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    assert uuid.UUID(fid).version == 4
    response = await api.get(f"api/files/{fid}")
    assert response.status == 200
    model = response.json()
    assert set(model) == FILE_FIELDS
    assert model["path"] == "proj/a.ipynb" and model["type"] == "notebook" and model["trashed"] is False
    assert model["parent"] == await file_id(api, "proj") and model["parent_path"] == "proj"
    assert response.headers["ETag"] == f'"{fid}-1"' and model["version"] == 1


@pytest.mark.gen_test
async def test_new_content_raises_the_version_so_if_match_sees_it(api: APIClient) -> None:
    """Design 3.1: version increments on every meta or content change; a PATCH based on the
    version before a save is refused (412) and nothing changes."""
    await save(api, "v.txt", "one")
    fid = await file_id(api, "v.txt")
    before = await api.get(f"api/files/{fid}")
    assert before.json()["version"] == 1
    await save(api, "v.txt", "two two")
    after = await api.get(f"api/files/{fid}")
    assert after.json()["version"] == 2 and after.headers["ETag"] == f'"{fid}-2"' and after.json()["size"] == 7
    stale = await api.patch(f"api/files/{fid}", {"name": "w.txt"}, headers={"If-Match": before.headers["ETag"]})
    assert stale.status == 412 and (await api.get(f"api/files/{fid}")).json()["path"] == "v.txt"
    overwritten = await api.post("api/files/upload", raw_body=b"three", params={"on_conflict": "overwrite"},
                                 headers={"X-File-Name": "v.txt", "Content-Type": "application/octet-stream"})
    assert overwritten.status == 201 and overwritten.json()["version"] == 3
    assert overwritten.headers["ETag"] == f'"{fid}-3"'
    fresh = await api.patch(f"api/files/{fid}", {"name": "w.txt"}, headers={"If-Match": f'"{fid}-3"'})
    assert fresh.status == 200 and fresh.json()["version"] == 4
    checkpoint = await api.post("api/contents/w.txt/checkpoints")
    assert checkpoint.status == 201, checkpoint.body
    await save(api, "w.txt", "four")
    assert (await api.get(f"api/files/{fid}")).json()["version"] == 5
    restored = await api.post(f"api/contents/w.txt/checkpoints/{checkpoint.json()['id']}")
    assert restored.status == 204, restored.body
    assert (await api.get(f"api/files/{fid}")).json()["version"] == 6


@pytest.mark.gen_test
@pytest.mark.parametrize("bad", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "%20", "ROOT"])
async def test_unknown_and_malformed_ids_are_404(api: APIClient, bad: str) -> None:
    """6"""
    response = await api.get(f"api/files/{bad}")
    assert response.status == 404
    assert response.json() == {"message": "No such file id.", "reason": "Not Found", "code": "not_found"}


@pytest.mark.gen_test
async def test_lookup_exists_and_missing(api: APIClient) -> None:
    """7"""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    assert (await api.get("api/files/lookup", params={"path": "/proj/a.ipynb"})).json()["id"] == fid
    assert (await api.get("api/files/lookup", params={"path": "proj/a.ipynb", "exists": "true"})).json() == {
        "exists": True}
    assert (await api.get("api/files/lookup", params={"path": "proj/zz.ipynb", "exists": "true"})).json() == {
        "exists": False}
    assert (await api.get("api/files/lookup", params={"path": "proj/zz.ipynb"})).status == 404
    assert (await api.get("api/files/lookup")).status == 400
    assert (await api.get("api/files/lookup", params={"path": "../x"})).status == 400
    parent = await file_id(api, "proj")
    assert (await api.get("api/files/lookup", params={"path": "a.ipynb", "parent": parent})).json()["id"] == fid
    assert (await api.get("api/files/lookup", params={"path": "proj/a.ipynb", "user": "someone-else"})).status == 404


@pytest.mark.gen_test
async def test_path_by_id_and_fileid_aliases(api: APIClient) -> None:
    """8"""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    assert (await api.get(f"api/files/{fid}/path")).json() == {"id": fid, "path": "proj/a.ipynb"}
    assert (await api.get("api/fileid/id", params={"path": "proj/a.ipynb"})).json() == {"id": fid,
                                                                                       "path": "proj/a.ipynb"}
    assert (await api.get("api/fileid/path", params={"id": fid})).json() == {"id": fid, "path": "proj/a.ipynb"}
    assert (await api.get("api/fileid/path")).status == 400
    assert (await api.get("api/fileid/id")).status == 400
    assert (await api.get("api/fileid/path", params={"id": str(uuid.uuid4())})).status == 404


@pytest.mark.gen_test
async def test_id_follows_contents_rename_and_save(api: APIClient) -> None:
    """9, and section 3.7 rule 3: a save keeps the id."""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    assert (await api.patch("api/contents/proj/a.ipynb", {"path": "proj/b.ipynb"})).status == 200
    assert (await api.get(f"api/files/{fid}")).json()["path"] == "proj/b.ipynb"
    await save(api, "proj/b.ipynb")
    assert await file_id(api, "proj/b.ipynb") == fid


@pytest.mark.gen_test
async def test_folder_rename_carries_its_tree(api: APIClient) -> None:
    """10 (names with _ and % to prove the range update needs no LIKE escaping)."""
    await mkdir(api, "pr_j")
    await mkdir(api, "pr_j/sub")
    await mkdir(api, "prXj")
    await save(api, "pr_j/a.ipynb")
    await save(api, "pr_j/sub/c%d.txt", "x")
    await save(api, "prXj/other.txt", "y")
    ids = {path: await file_id(api, path) for path in ("pr_j", "pr_j/a.ipynb", "pr_j/sub", "pr_j/sub/c%d.txt",
                                                         "prXj/other.txt")}
    assert (await api.patch("api/contents/pr_j", {"path": "proj2"})).status == 200
    for old, fid in ids.items():
        expected = old.replace("pr_j", "proj2", 1) if old.startswith("pr_j") else old
        assert (await api.get(f"api/files/{fid}/path")).json()["path"] == expected


@pytest.mark.gen_test
async def test_contents_file_id_opt_in(api: APIClient) -> None:
    """?file_id=1 on contents GETs (plain and paged listing); absent without it."""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    plain = (await api.get("api/contents/proj")).json()
    assert "file_id" not in plain and all("file_id" not in child for child in plain["content"])
    listed = (await api.get("api/contents/proj", params={"file_id": "1"})).json()
    assert listed["file_id"] == await file_id(api, "proj")
    assert listed["content"][0]["file_id"] == await file_id(api, "proj/a.ipynb")
    paged = (await api.get("api/contents/proj", params={"file_id": "1", "page_size": "5"})).json()
    assert paged["content"][0]["file_id"] == listed["content"][0]["file_id"]
    single = (await api.get("api/contents/proj/a.ipynb", params={"file_id": "1", "content": "0"})).json()
    assert single["file_id"] == listed["content"][0]["file_id"]
    assert (await api.get("api/contents/proj", params={"file_id": "yes"})).status == 400


@pytest.mark.gen_test
@pytest.mark.parametrize("allow_hidden", [False, True])
async def test_state_folder_is_never_listed_or_served(api: APIClient, server_app: Any, root_dir: Path,
                                                      allow_hidden: bool) -> None:
    """17 (last clause): .nbserver is reserved even with allow_hidden."""
    server_app.contents_manager.allow_hidden = allow_hidden
    await save(api, "a.txt", "x")
    await file_id(api, "a.txt")
    await save(api, "b.txt", "x")
    assert (await api.post("api/trash", {"path": "b.txt"})).status == 200  # the trash is in the state folder
    on_sqlite = not server_app.database.configured  # PostgreSQL keeps the ids elsewhere
    assert (root_dir / ".nbserver" / "meta.sqlite").is_file() == on_sqlite
    for path in (".nbserver", ".nbserver/meta.sqlite", ".nbserver/trash"):
        assert (await api.get(f"api/contents/{path}")).status == 404
        assert (await api.get(f"files/{path}")).status == 404
    assert (await api.put("api/contents/.nbserver/x.txt", {"type": "file", "format": "text", "content": ""})
            ).status == 400
    assert (await api.patch("api/contents/a.txt", {"path": ".nbserver/a.txt"})).status == 400
    assert (await api.delete("api/contents/.nbserver")).status in (400, 404)  # a hidden write, or not found
    assert (await api.post("api/trash", {"path": ".nbserver"})).status in (400, 404)
    assert (root_dir / ".nbserver" / "meta.sqlite").is_file() == on_sqlite
    assert (await api.get("api/files/lookup", params={"path": ".nbserver/meta.sqlite"})).status == 404
    names = {child["name"] for child in (await api.get("api/contents")).json()["content"]}
    assert ".nbserver" not in names
    paged = (await api.get("api/contents", params={"page_size": "100"})).json()
    assert ".nbserver" not in {child["name"] for child in paged["content"]}
    assert (root_dir / ".nbserver" / ".gitignore").read_text() == "*\n"


# -- trash ------------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_trash_by_id_hides_the_file_and_is_idempotent(api: APIClient, root_dir: Path) -> None:
    """17, 18"""
    await mkdir(api, "proj")
    await save(api, "proj/a.ipynb")
    fid = await file_id(api, "proj/a.ipynb")
    first = await api.post(f"api/files/{fid}/trash")
    assert first.status == 200
    model = first.json()
    assert model["trashed"] is True and model["explicitly_trashed"] is True and model["trashed_at"]
    assert (await api.get("api/contents/proj/a.ipynb")).status == 404
    assert (await api.get("api/contents/proj")).json()["content"] == []
    again = await api.post(f"api/files/{fid}/trash")
    assert again.status == 200 and again.json() == model
    assert not (root_dir / "proj" / "a.ipynb").exists()


@pytest.mark.gen_test
async def test_trash_listing_pages_and_totals(api: APIClient) -> None:
    """19"""
    for name in ("a.txt", "b.txt", "c.txt"):
        await save(api, name, name * 10)
        first = await api.post("api/trash", {"path": name})
        assert first.status == 200
        again = await api.post("api/trash", {"path": name})  # idempotent: the same body again
        assert again.status == 200 and again.json() == first.json()
    listing = (await api.get("api/trash")).json()
    assert listing["total"] == 3 and listing["total_size"] == 150 and listing["next_cursor"] is None
    assert [item["original_path"] for item in listing["items"]] == ["c.txt", "b.txt", "a.txt"]
    item = listing["items"][0]
    assert item["size"] == 50 and item["trashed_at"] and item["expires_at"] and item["trashed_by"]
    page = (await api.get("api/trash", params={"page_size": "2"})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await api.get("api/trash", params={"page_size": "2", "cursor": page["next_cursor"]})).json()
    assert [i["original_path"] for i in rest["items"]] == ["a.txt"] and rest["next_cursor"] is None
    for bad in ({"page_size": "0"}, {"page_size": "1001"}, {"page_size": "\u00b2"}, {"cursor": "garbage!"}):
        assert (await api.get("api/trash", params=bad)).status == 400


@pytest.mark.gen_test
async def test_trashed_folder_children_are_trashed_not_listed(api: APIClient) -> None:
    """20"""
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    child_model = (await api.get(f"api/files/{child}")).json()
    assert child_model["trashed"] is True and child_model["explicitly_trashed"] is False
    assert (await api.get(f"api/files/{child}/path")).json() == {"id": child, "path": "F/x.ipynb", "trashed": True}
    assert [item["id"] for item in (await api.get("api/trash")).json()["items"]] == [folder]


@pytest.mark.gen_test
async def test_restore_brings_back_bytes_id_and_checkpoint(api: APIClient, root_dir: Path) -> None:
    """21, 22"""
    await save(api, "a.ipynb")
    assert (await api.post("api/contents/a.ipynb/checkpoints")).status == 201
    before = hashlib.sha256((root_dir / "a.ipynb").read_bytes()).hexdigest()
    fid = await file_id(api, "a.ipynb")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert not (root_dir / ".ipynb_checkpoints" / "a-checkpoint.ipynb").exists()
    restored = await api.post(f"api/files/{fid}/restore")
    assert restored.status == 200 and restored.json()["path"] == "a.ipynb" and restored.json()["trashed"] is False
    assert hashlib.sha256((root_dir / "a.ipynb").read_bytes()).hexdigest() == before
    assert [c["id"] for c in (await api.get("api/contents/a.ipynb/checkpoints")).json()] == ["checkpoint"]
    assert await file_id(api, "a.ipynb") == fid
    assert (await api.get("api/trash")).json()["total"] == 0
    assert list((root_dir / ".nbserver" / "trash").iterdir()) == []
    again = await api.post(f"api/files/{fid}/restore")
    assert again.status == 200 and again.json()["version"] == restored.json()["version"]


@pytest.mark.gen_test
async def test_restore_onto_a_new_file_is_409_unless_renamed(api: APIClient) -> None:
    """23: a new file at the old path has a new id; restore conflicts, or takes '(restored)'. (Also run
    over the PostgreSQL contents store: test_pg_services.py.)"""
    await save(api, "a.ipynb")
    old = await file_id(api, "a.ipynb")
    assert (await api.post(f"api/files/{old}/trash")).status == 200
    await save(api, "a.ipynb", "new")
    new = await file_id(api, "a.ipynb")
    assert new != old
    conflict = await api.post(f"api/files/{old}/restore")
    assert conflict.status == 409
    assert conflict.json()["code"] == "restore_conflict" and conflict.json()["conflict_path"] == "a.ipynb"
    assert (await api.get(f"api/files/{new}/content")).body == b"new"
    renamed = await api.post(f"api/files/{old}/restore", {"on_conflict": "rename"})
    assert renamed.status == 200 and renamed.json()["path"] == "a (restored).ipynb"
    assert json.loads((await api.get(f"api/files/{old}/content")).body) == NOTEBOOK
    assert await file_id(api, "a.ipynb") == new
    assert (await api.post(f"api/files/{new}/restore", {"on_conflict": "maybe"})).status == 400


@pytest.mark.gen_test
async def test_restore_recreates_missing_parents(api: APIClient, root_dir: Path) -> None:
    """24"""
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    fid = await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    (root_dir / "F").rmdir()
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert json.loads((root_dir / "F" / "x.ipynb").read_text()) == NOTEBOOK


@pytest.mark.gen_test
async def test_child_of_trashed_folder_restores_alone(api: APIClient, root_dir: Path) -> None:
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    await save(api, "F/y.txt", "y")
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    assert (await api.post(f"api/files/{child}/restore")).status == 200
    assert (root_dir / "F" / "x.ipynb").is_file() and not (root_dir / "F" / "y.txt").exists()
    assert (await api.get(f"api/files/{folder}")).json()["trashed"] is True


@pytest.mark.gen_test
async def test_permanent_delete_only_of_trashed_items(api: APIClient, root_dir: Path) -> None:
    """25, 26"""
    await save(api, "a.ipynb")
    fid = await file_id(api, "a.ipynb")
    live = await api.delete(f"api/files/{fid}/permanent_delete")
    assert live.status == 409 and live.json()["code"] == "not_trashed"
    assert (root_dir / "a.ipynb").is_file()
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).status == 204
    assert (await api.get(f"api/files/{fid}")).status == 404
    assert list((root_dir / ".nbserver" / "trash").iterdir()) == []
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).status == 404


@pytest.mark.gen_test
async def test_contents_delete_moves_to_trash(api: APIClient, root_dir: Path) -> None:
    """27 (default config)"""
    await save(api, "x.ipynb")
    fid = await file_id(api, "x.ipynb")
    assert (await api.delete("api/contents/x.ipynb")).status == 204
    assert not (root_dir / "x.ipynb").exists()
    assert [item["id"] for item in (await api.get("api/trash")).json()["items"]] == [fid]
    assert (await api.delete("api/contents")).status == 400


@pytest.mark.gen_test
async def test_contents_delete_is_permanent_without_delete_to_trash(api: APIClient, server_app: Any,
                                                                    root_dir: Path) -> None:
    """27 (delete_to_trash=False): gone for good; a new file at the path gets a new id."""
    server_app.contents_manager.delete_to_trash = False
    await save(api, "x.ipynb")
    fid = await file_id(api, "x.ipynb")
    assert (await api.delete("api/contents/x.ipynb")).status == 204
    assert not (root_dir / "x.ipynb").exists()
    assert (await api.get("api/trash")).json()["total"] == 0
    assert (await api.get(f"api/files/{fid}")).status == 404
    await save(api, "x.ipynb")
    assert await file_id(api, "x.ipynb") != fid


@pytest.mark.gen_test
async def test_empty_trash(api: APIClient, root_dir: Path) -> None:
    """28"""
    await mkdir(api, "F")
    await save(api, "F/big.txt", "x" * 100_000)
    await save(api, "b.txt", "b")
    assert (await api.post("api/trash", {"path": "F"})).status == 200
    assert (await api.delete("api/contents/b.txt")).status == 204
    assert (await api.get("api/trash")).json()["total"] == 2
    assert (await api.delete("api/trash")).status == 204
    assert (await api.get("api/trash")).json() == {"items": [], "total": 0, "total_size": 0, "next_cursor": None}
    assert list((root_dir / ".nbserver" / "trash").iterdir()) == []
    assert (await api.delete("api/trash")).status == 204


@pytest.mark.gen_test
async def test_trash_refusals(api: APIClient) -> None:
    """Root 400; missing 404; bad bodies 400."""
    assert (await api.post("api/trash", {"path": ""})).status == 400
    assert (await api.post("api/trash", {"path": "nope.txt"})).status == 404
    assert (await api.post("api/trash", {"path": 3})).status == 400
    assert (await api.post("api/trash", {"path": "a", "extra": 1})).status == 400
    assert (await api.post("api/files/root/trash")).status == 400


# -- access (50) -------------------------------------------------------------------------------

NEW_ROUTES = [("GET", "api/files/{id}"), ("GET", "api/files/{id}/path"), ("GET", "api/files/lookup?path=a.txt"),
              ("POST", "api/files/{id}/trash"), ("POST", "api/files/{id}/restore"),
              ("DELETE", "api/files/{id}/permanent_delete"), ("GET", "api/trash"), ("POST", "api/trash"),
              ("DELETE", "api/trash"), ("GET", "api/fileid/id?path=a.txt"), ("GET", "api/fileid/path?id={id}"),
              ("PUT", "api/files/{id}"), ("PATCH", "api/files/{id}")]


@pytest.mark.gen_test
async def test_every_new_route_needs_credentials_and_xsrf(api: APIClient, browser_session: Any) -> None:
    """50: 401 without credentials; a cookie-authenticated write without X-XSRFToken is 403."""
    await save(api, "a.txt", "x")
    fid = await file_id(api, "a.txt")
    for method, route in NEW_ROUTES:
        path = route.replace("{id}", fid)
        body = {"path": "a.txt"} if route == "api/trash" and method == "POST" else None
        response = await api.request(method, path, body, authenticated=False)
        assert response.status == 401, (method, route)
    assert (await browser_session.login(api.token)).status == 303
    for method, route in NEW_ROUTES:
        path = "/" + route.replace("{id}", fid)
        response = await browser_session.request(method, path)
        assert response.status == (200 if method == "GET" else 403), (method, route, response.body)
    assert (api_root := await api.get(f"api/files/{fid}")).status == 200 and not api_root.json()["trashed"]


@pytest.mark.gen_test
async def test_collaborators_are_405_in_single_user_mode(api: APIClient) -> None:
    """50"""
    await save(api, "a.txt", "x")
    fid = await file_id(api, "a.txt")
    for method in ("GET", "POST", "DELETE"):
        response = await api.request(method, f"api/files/{fid}/collaborators")
        assert response.status == 405 and response.json()["code"] == "single_user"
    assert (await api.get(f"api/files/{uuid.uuid4()}/collaborators")).status == 404
    assert (await api.get(f"api/files/{fid}/collaborators", authenticated=False)).status == 401


class SecretRefusingAuthorizer(Authorizer):
    """Refuses contents under ``secret/`` (as a hub Authorizer might), by the path the request acts on."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        path = getattr(handler, "contents_path", None)
        if path is None:
            path = (handler.path_kwargs or {}).get("path", "")
        return not str(path).strip("/").startswith("secret")


@pytest.mark.gen_test
@pytest.mark.parametrize("server_config", [{"authorizer_class": SecretRefusingAuthorizer}])
async def test_id_routes_are_authorized_as_the_path(api: APIClient, server_app: Any, root_dir: Path) -> None:
    """3.7: ids are not the access check; a refused path answers 404 like an unknown id."""
    (root_dir / "secret").mkdir()
    (root_dir / "secret" / "s.txt").write_text("s")
    (root_dir / "open.txt").write_text("o")
    services = server_app.file_services
    secret = (await services.record_for_path("secret/s.txt")).id
    assert (await api.get("api/contents/secret/s.txt")).status == 403
    for method, route in NEW_ROUTES:
        if "{id}" in route:
            body = {"POST": {}, "PUT": {"name": "s2.txt", "parent": "root", "world_readable": False},
                    "PATCH": {"name": "s2.txt"}}.get(method)
            response = await api.request(method, route.replace("{id}", secret), body)
            assert response.status == 404, (method, route)
    assert (await api.get("api/files/lookup", params={"path": "secret/s.txt"})).status == 404
    assert (await api.get("api/fileid/id", params={"path": "secret/s.txt"})).status == 404
    assert (await api.post("api/trash", {"path": "secret/s.txt"})).status == 404
    assert (root_dir / "secret" / "s.txt").read_text() == "s"
    assert (await api.get("api/files/lookup", params={"path": "open.txt"})).status == 200
