"""The file services over the PostgreSQL contents store (nbserver/services/files/pg_services.py).

The API tests of the file services that do not look at a disk run here again, imported, on an
in-process server whose contents manager is PostgresContentsManager; the tests below check what
differs (trash, restore and purge as transactions of rows, ids kept by the database's triggers,
link keys, uploads and search reading the database). The last tests run two real nbserver
processes on one database: the cases of issue 17.
"""

from __future__ import annotations

import hashlib
import os
import json
from typing import Any

import psycopg
import pytest

from tests.services.contents.postgres.test_server import MANAGER
from tests.services.files.test_handlers import (  # noqa: F401
    NOTEBOOK,
    file_id,
    mkdir,
    save,
    test_contents_delete_is_permanent_without_delete_to_trash,
    test_contents_delete_moves_to_trash,
    test_folder_rename_carries_its_tree,
    test_get_by_id_has_every_file_field_and_etag,
    test_new_content_raises_the_version_so_if_match_sees_it,
    test_id_follows_contents_rename_and_save,
    test_lookup_exists_and_missing,
    test_restore_onto_a_new_file_is_409_unless_renamed,
    test_trash_by_id_hides_the_file_and_is_idempotent,
    test_trash_listing_pages_and_totals,
    test_trashed_folder_children_are_trashed_not_listed,
)
from tests.services.files.test_relations import (  # noqa: F401
    test_copy_is_201_with_a_new_id_and_a_copy_edge,
    test_stars_are_idempotent_and_listed,
)
from tests.services.files.test_sharing import public_get
from tests.services.search.test_handlers import (  # noqa: F401
    test_an_upload_is_indexed_like_a_save,
    test_rename_keeps_the_id_and_finds_the_new_name,
    test_status_reports_the_index,
    test_trashed_file_is_absent_and_back_after_restore,
)
from tests.support.api_client import APIClient

pytestmark = [pytest.mark.postgres_only, pytest.mark.gen_test(timeout=60)]


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {"contents_manager_class": MANAGER}


async def content_of(api: APIClient, fid: str) -> bytes:
    response = await api.get(f"api/files/{fid}/content")
    assert response.status == 200, response.body
    return response.body


def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args or None).fetchall()


async def test_every_row_has_its_id_in_the_database(api: APIClient, database_url: str) -> None:
    await mkdir(api, "F")
    await save(api, "F/a.ipynb")
    fid = await file_id(api, "F/a.ipynb")
    assert rows(database_url, "SELECT file_id::text FROM contents_files WHERE path = 'F/a.ipynb'") == [(fid,)]
    copied = await api.post("api/contents/F", {"copy_from": "F/a.ipynb"})
    assert copied.status == 201
    assert await file_id(api, copied.json()["path"]) not in (fid, await file_id(api, "F"))


async def test_restore_brings_back_bytes_id_and_checkpoint(api: APIClient, database_url: str) -> None:
    await save(api, "a.ipynb")
    assert (await api.post("api/contents/a.ipynb/checkpoints")).status == 201
    fid = await file_id(api, "a.ipynb")
    before = await content_of(api, fid)
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.get("api/contents/a.ipynb/checkpoints")).status == 404
    assert (await api.get(f"api/files/{fid}")).json()["size"] == len(before)
    restored = await api.post(f"api/files/{fid}/restore")
    assert restored.status == 200 and restored.json()["path"] == "a.ipynb" and restored.json()["trashed"] is False
    assert await content_of(api, fid) == before
    assert [c["id"] for c in (await api.get("api/contents/a.ipynb/checkpoints")).json()] == ["checkpoint"]
    assert (await api.get("api/trash")).json()["total"] == 0
    assert rows(database_url, "SELECT path FROM contents_files WHERE path LIKE '.nbserver-trash/%'") == []
    again = await api.post(f"api/files/{fid}/restore")
    assert again.status == 200 and again.json()["version"] == restored.json()["version"]


async def test_restore_recreates_missing_parents_and_a_file_in_the_way_is_409(api: APIClient) -> None:
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    fid = await file_id(api, "F/x.ipynb")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.delete("api/contents/F")).status == 204
    await save(api, "F", "a file where the folder was")
    blocked = await api.post(f"api/files/{fid}/restore")
    assert blocked.status == 409 and blocked.json()["conflict_path"] == "F"
    assert (await api.delete("api/contents/F")).status == 204
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert (await api.get("api/contents/F")).json()["type"] == "directory"
    assert (await api.get(f"api/files/{fid}/path")).json() == {"id": fid, "path": "F/x.ipynb"}


async def test_child_of_trashed_folder_restores_alone_and_purges_alone(api: APIClient) -> None:
    await mkdir(api, "F")
    await save(api, "F/x.ipynb")
    await save(api, "F/y.txt", "y" * 10)
    await save(api, "F/z.txt", "z" * 5)
    folder, child, other = [await file_id(api, p) for p in ("F", "F/x.ipynb", "F/z.txt")]
    assert (await api.post(f"api/files/{folder}/trash")).status == 200
    assert (await api.post(f"api/files/{child}/restore")).status == 200
    assert [c["name"] for c in (await api.get("api/contents/F")).json()["content"]] == ["x.ipynb"]
    assert (await api.get(f"api/files/{folder}")).json()["trashed"] is True
    assert (await api.delete(f"api/files/{other}/permanent_delete")).status == 204
    assert (await api.get(f"api/files/{other}")).status == 404
    assert (await api.get("api/trash")).json()["total_size"] == 10


async def test_permanent_delete_and_empty_trash_remove_rows_and_blobs(api: APIClient, database_url: str) -> None:
    await save(api, "a.txt", "only here")
    await mkdir(api, "F")
    await save(api, "F/b.txt", "b")
    fid = await file_id(api, "a.txt")
    live = await api.delete(f"api/files/{fid}/permanent_delete")
    assert live.status == 409 and live.json()["code"] == "not_trashed"
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).status == 204
    assert (await api.get(f"api/files/{fid}")).status == 404
    assert (await api.delete(f"api/files/{fid}/permanent_delete")).status == 404
    assert (await api.post("api/trash", {"path": "F"})).status == 200
    assert (await api.delete("api/trash")).status == 204
    assert (await api.get("api/trash")).json()["total"] == 0
    assert rows(database_url, "SELECT path FROM contents_files WHERE path <> '' AND path <> '.nbserver-trash'") == []
    assert rows(database_url, "SELECT count(*) FROM contents_blobs") == [(0,)]
    assert rows(database_url, "SELECT count(*) FROM fs_files WHERE path <> ''") == [(0,)]


async def test_the_trash_folder_is_reserved_even_with_hidden_files_shown(api: APIClient, server_app: Any) -> None:
    server_app.contents_manager.allow_hidden = True
    await save(api, "a.txt", "a")
    assert (await api.post("api/trash", {"path": "a.txt"})).status == 200
    assert (await api.get("api/contents")).json()["content"] == []
    assert (await api.get("api/contents/.nbserver-trash")).status == 404
    assert (await api.put("api/contents/.nbserver-trash/x.txt", {"type": "file", "format": "text",
                                                                   "content": "x"})).status == 400
    assert (await api.get("api/files/lookup", params={"path": ".nbserver-trash"})).status == 404


async def test_the_sweep_purges_past_retention(api: APIClient, server_app: Any) -> None:
    await save(api, "old.txt", "old")
    fid = await file_id(api, "old.txt")
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    services = server_app.file_services
    assert await services.sweep_trash() == 0
    services.trash_retention_days = 1e-9
    assert await services.sweep_trash() == 1
    assert (await api.get(f"api/files/{fid}")).status == 404


async def test_share_links_404_while_trashed_and_keys_live_in_the_database(api: APIClient,
                                                                          database_url: str) -> None:
    await save(api, "n.ipynb")
    fid = await file_id(api, "n.ipynb")
    url = (await api.patch(f"api/files/{fid}", {"world_readable": True})).json()["share_url"]
    raw = await public_get(api, url + "/raw")
    assert raw.status == 200 and json.loads(raw.body) == NOTEBOOK
    assert len(rows(database_url, "SELECT key FROM fs_share_keys")) == 1
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await public_get(api, url)).status == 404
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert (await public_get(api, url)).status == 200


async def test_content_ranges_and_html_come_from_the_database(api: APIClient) -> None:
    text = "0123456789" * 1000
    await save(api, "t.txt", text)
    await save(api, "n.ipynb")
    fid, nid = await file_id(api, "t.txt"), await file_id(api, "n.ipynb")
    ranged = await api.get(f"api/files/{fid}/content", headers={"Range": "bytes=5-14"})
    assert ranged.status == 206 and ranged.body == text[5:15].encode()
    html = await api.get(f"api/files/{nid}/html")
    assert html.status == 200 and b"quasar" in html.body
    assert html.headers["Content-Security-Policy"].startswith("sandbox")


async def test_upload_streams_into_a_row_with_conflict_rules(api: APIClient) -> None:
    async def upload(name: str, body: bytes, on_conflict: str = "fail") -> Any:
        return await api.post("api/files/upload", raw_body=body, params={"on_conflict": on_conflict},
                              headers={"X-File-Name": name, "Content-Type": "application/octet-stream"})
    data = os.urandom(9 * 1024 * 1024 + 123)  # three of the upload's 4 MB body buffers: one is used twice
    first = await upload("big.bin", data)
    assert first.status == 201, first.body
    fid = first.json()["id"]
    assert hashlib.sha256(await content_of(api, fid)).digest() == hashlib.sha256(data).digest()
    taken = await upload("big.bin", b"x")
    assert taken.status == 409 and taken.json()["code"] == "name_conflict"
    assert (await upload("big.bin", b"x", "rename")).json()["path"] == "big (1).bin"
    long_name = "b" * 251 + ".bin"  # 255 bytes: a numbered name must give up some of the stem
    assert (await upload(long_name, b"1")).status == 201
    assert (await upload(long_name, b"2", "rename")).json()["path"] == "b" * 247 + " (1).bin"
    replaced = await upload("big.bin", b"y", "overwrite")
    assert replaced.status == 201 and replaced.json()["id"] == fid and await content_of(api, fid) == b"y"
    unreadable = await upload("n.ipynb", b"not json")
    assert unreadable.status == 400 and unreadable.json()["code"] == "unreadable_notebook"
    assert (await api.get("api/contents/n.ipynb")).status == 404
