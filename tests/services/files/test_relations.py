"""Copy, sources (JSON Graph Format), stars and the starred listing (checklist items 34, 35, 50)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbserver.app import NotebookServerApp
from tests.services.files.test_handlers import save
from tests.support.api_client import APIClient

pytestmark = pytest.mark.gen_test(timeout=60)


async def lookup(api: APIClient, path: str) -> str:
    response = await api.get("api/files/lookup", params={"path": path})
    assert response.status == 200, response.body
    return str(response.json()["id"])


async def test_copy_is_201_with_a_new_id_and_a_copy_edge(api: APIClient) -> None:
    """34 (through the API only: also run over the PostgreSQL contents store, test_pg_services.py)"""
    await save(api, "a.txt", "original")
    fid = await lookup(api, "a.txt")
    response = await api.post(f"api/files/{fid}/copy")
    assert response.status == 201, response.body
    body = response.json()
    assert set(body) == {"file", "new_id", "warnings"} and body["warnings"] == []
    new_id = body["new_id"]
    assert new_id != fid and body["file"]["id"] == new_id and body["file"]["path"] == "a-Copy1.txt"
    assert response.headers["Location"] == f"/api/files/{new_id}"
    assert (await api.get(f"api/files/{new_id}/content")).body == b"original"
    graph = (await api.get(f"api/files/{new_id}/sources")).json()["graph"]
    assert {"source": fid, "target": new_id, "relation": "copy"} in [
        {key: edge[key] for key in ("source", "target", "relation")} for edge in graph["edges"]]
    assert graph["nodes"][fid]["label"] == "a.txt" and graph["nodes"][fid]["metadata"]["path"] == "a.txt"
    outgoing = (await api.get(f"api/files/{fid}/sources")).json()["graph"]["edges"]
    assert [(edge["source"], edge["target"]) for edge in outgoing] == [(fid, new_id)]


async def test_copy_to_a_path_conflicts_and_can_be_public(api: APIClient, root_dir: Path) -> None:
    (root_dir / "a.txt").write_text("x")
    (root_dir / "taken.txt").write_text("y")
    fid = await lookup(api, "a.txt")
    clash = await api.post(f"api/files/{fid}/copy", {"path": "taken.txt"})
    assert clash.status == 409 and clash.json()["code"] == "name_conflict"
    made = await api.post(f"api/files/{fid}/copy", {"path": "/b.txt", "make_public": True})
    assert made.status == 201 and made.json()["file"]["path"] == "b.txt"
    assert made.json()["file"]["world_readable"] is True and made.json()["file"]["share_url"]
    assert (await api.post(f"api/files/{fid}/copy", {"nmae": "x"})).status == 400


async def test_sources_pages_five_edges_per_relation_then_a_next_node(api: APIClient, root_dir: Path,
                                                                      server_app: NotebookServerApp) -> None:
    """Section 3.8: 5 edges per relation and direction, then a ``next`` node whose cursor continues."""
    (root_dir / "a.txt").write_text("x")
    fid = await lookup(api, "a.txt")
    copies = [(await api.post(f"api/files/{fid}/copy")).json()["new_id"] for _ in range(7)]
    services = server_app.file_services
    assert services is not None
    await services.add_edge("https://example.org/a.ipynb", fid, "import")
    graph = (await api.get(f"api/files/{fid}/sources")).json()["graph"]
    assert [edge["target"] for edge in graph["edges"] if edge["relation"] == "copy"] == copies[:5]
    assert [edge["source"] for edge in graph["edges"] if edge["relation"] == "import"] == [
        "url:https://example.org/a.ipynb"]
    assert graph["nodes"]["url:https://example.org/a.ipynb"]["metadata"]["url"] == "https://example.org/a.ipynb"
    more = graph["nodes"]["next:copy:out"]
    assert more["relation"] == "next"
    rest = (await api.get(f"api/files/{fid}/sources", params={"cursor": more["metadata"]["cursor"]})).json()["graph"]
    assert [edge["target"] for edge in rest["edges"]] == copies[5:]
    assert not [node for node in rest["nodes"] if node.startswith("next:")]
    assert (await api.get(f"api/files/{fid}/sources", params={"cursor": "bogus"})).status == 400


async def test_edges_of_a_purged_file_disappear(api: APIClient, root_dir: Path) -> None:
    (root_dir / "a.txt").write_text("x")
    fid = await lookup(api, "a.txt")
    new_id = (await api.post(f"api/files/{fid}/copy")).json()["new_id"]
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).status == 204
    assert (await api.get(f"api/files/{new_id}/sources")).json()["graph"]["edges"] == []


async def test_stars_are_idempotent_and_listed(api: APIClient) -> None:
    """35 (through the API only: also run over the PostgreSQL contents store)"""
    for name in ("a.txt", "b.txt"):
        await save(api, name, name)
    a, b = await lookup(api, "a.txt"), await lookup(api, "b.txt")
    for _ in range(2):
        response = await api.post(f"api/files/{a}/star")
        assert response.status == 200 and response.json() == {"starred": True}
    assert (await api.post(f"api/files/{b}/star")).status == 200
    assert (await api.get(f"api/files/{a}")).json()["starred"] is True
    listing = (await api.get("api/files", params={"starred": "1"})).json()
    assert listing["total"] == 2 and {item["id"] for item in listing["items"]} == {a, b}
    assert all(item["starred"] for item in listing["items"])
    for _ in range(2):
        assert (await api.delete(f"api/files/{a}/star")).status == 204
    listing = (await api.get("api/files", params={"starred": "1"})).json()
    assert [item["id"] for item in listing["items"]] == [b] and listing["next_cursor"] is None
    assert (await api.get(f"api/files/{a}")).json()["starred"] is False


async def test_starred_listing_pages_and_shows_trashed(api: APIClient, root_dir: Path) -> None:
    """Section 3.8: starred trashed items are shown with trashed: true."""
    ids = []
    for number in range(3):
        (root_dir / f"f{number}.txt").write_text("x")
        ids.append(await lookup(api, f"f{number}.txt"))
        assert (await api.post(f"api/files/{ids[-1]}/star")).status == 200
    assert (await api.post(f"api/files/{ids[0]}/trash")).status == 200
    first = (await api.get("api/files", params={"starred": "1", "page_size": "2"})).json()
    assert len(first["items"]) == 2 and first["total"] == 3 and first["next_cursor"]
    second = (await api.get("api/files", params={"starred": "1", "page_size": "2",
                                                 "cursor": first["next_cursor"]})).json()
    items = first["items"] + second["items"]
    assert {item["id"] for item in items} == set(ids) and second["next_cursor"] is None
    assert [item["trashed"] for item in items if item["id"] == ids[0]] == [True]
    assert (await api.get("api/files")).status == 400
    for bad_size in ("0", "\u00b2", "\u0663"):  # ² passes str.isdigit and int() refuses it; ٣ int() reads as 3
        answer = await api.get("api/files", params={"starred": "1", "page_size": bad_size})
        assert answer.status == 400 and answer.json()["field"] == "page_size"


async def test_collaborators_are_405_in_single_user_mode(api: APIClient, root_dir: Path) -> None:
    """50"""
    (root_dir / "a.txt").write_text("x")
    fid = await lookup(api, "a.txt")
    for method in ("GET", "POST", "DELETE", "PUT"):
        response = await api.request(method, f"api/files/{fid}/collaborators", raw_body=None if method in (
            "GET", "DELETE") else b"{}")
        assert response.status == 405 and response.headers["Allow"] == "OPTIONS"  # nothing else answers here


@pytest.mark.parametrize("method, route", [("POST", "copy"), ("GET", "sources"), ("POST", "star"),
                                           ("DELETE", "star"), ("POST", "share/rotate")])
async def test_relation_routes_need_credentials(api: APIClient, root_dir: Path, method: str, route: str) -> None:
    """50"""
    (root_dir / "a.txt").write_text("x")
    fid = await lookup(api, "a.txt")
    response: Any = await api.request(method, f"api/files/{fid}/{route}", authenticated=False)
    assert response.status == 401
    assert (await api.get("api/files", params={"starred": "1"}, authenticated=False)).status == 401
