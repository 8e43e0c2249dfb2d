"""Public read-only links: world_readable, /shared/<token>, rotate, revoke (checklist items 36-38)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from nbserver.app import NotebookServerApp
from tests.support.api_client import APIClient, APIResponse

pytestmark = pytest.mark.gen_test(timeout=120)

NOTEBOOK = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Shared notebook"]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


async def shared_notebook(api: APIClient, root_dir: Path, name: str = "n.ipynb") -> tuple[str, str]:
    """(id, share_url) of a notebook made world readable."""
    (root_dir / name).write_text(json.dumps(NOTEBOOK))
    fid = (await api.get("api/files/lookup", params={"path": name})).json()["id"]
    response = await api.patch(f"api/files/{fid}", {"world_readable": True})
    assert response.status == 200, response.body
    model = response.json()
    assert model["world_readable"] is True and model["share_url"].startswith("/shared/")
    return fid, model["share_url"]


async def public_get(api: APIClient, url: str, method: str = "GET") -> APIResponse:
    return await api.request(method, url, authenticated=False, headers={"Content-Type": ""})


async def test_share_url_serves_the_sandboxed_view_and_the_raw_bytes(api: APIClient, root_dir: Path) -> None:
    """36"""
    _, url = await shared_notebook(api, root_dir)
    view = await public_get(api, url)
    assert view.status == 200 and b"Shared notebook" in view.body
    assert view.headers["Content-Type"] == "text/html; charset=UTF-8"
    policy = view.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox") and "allow-same-origin" not in policy and "frame-ancestors *" in policy
    assert view.headers["X-Robots-Tag"] == "noindex, nofollow" and view.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in view.headers
    raw = await public_get(api, url + "/raw")
    assert raw.status == 200 and raw.body == (root_dir / "n.ipynb").read_bytes()
    assert raw.headers["Content-Disposition"].startswith("attachment") and "Set-Cookie" not in raw.headers
    head = await public_get(api, url, "HEAD")
    assert head.status == 200 and head.body == b""


async def test_the_token_is_256_bits_and_stored_only_as_its_hash(api: APIClient, root_dir: Path,
                                                                 server_app: Any) -> None:
    """Section 3.9"""
    fid, url = await shared_notebook(api, root_dir)
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43
    if server_app.database.configured:
        with server_app.database.connect() as conn:
            rows = [(str(file_id), bytes(digest), bytes(salt), created, by) for file_id, digest, salt, created, by
                    in conn.execute("SELECT file_id, token_hash, salt, created::text, created_by FROM fs_shares")]
    else:
        database = sqlite3.connect(root_dir / ".nbserver" / "meta.sqlite")
        try:
            rows = database.execute("SELECT * FROM shares").fetchall()
        finally:
            database.close()
    assert len(rows) == 1 and rows[0][0] == fid and rows[0][1] == hashlib.sha256(token.encode()).digest()
    assert all(token not in str(value) and token.encode() not in bytes(str(value), "utf-8") for value in rows[0])
    for stored in (root_dir / ".nbserver").glob("meta.sqlite*"):
        assert token.encode() not in stored.read_bytes()
    assert (await api.get(f"api/files/{fid}")).json()["share_url"] == url  # the owner sees it again


async def test_wrong_revoked_and_rotated_links_are_404(api: APIClient, root_dir: Path) -> None:
    """37"""
    fid, url = await shared_notebook(api, root_dir)
    assert (await public_get(api, "/shared/" + "A" * 43)).status == 404
    assert (await public_get(api, "/shared/short")).status == 404
    rotated = await api.post(f"api/files/{fid}/share/rotate")
    assert rotated.status == 200
    new_url = rotated.json()["share_url"]
    assert new_url != url
    assert (await public_get(api, url)).status == 404 and (await public_get(api, url + "/raw")).status == 404
    assert (await public_get(api, new_url)).status == 200
    assert (await api.patch(f"api/files/{fid}", {"world_readable": False})).json()["share_url"] is None
    assert (await public_get(api, new_url)).status == 404
    again = await api.post(f"api/files/{fid}/share/rotate")
    assert again.status == 409 and again.json()["code"] == "not_world_readable"


async def test_a_trashed_files_link_is_404_until_restored(api: APIClient, root_dir: Path) -> None:
    """37"""
    fid, url = await shared_notebook(api, root_dir)
    assert (await api.post(f"api/files/{fid}/trash")).status == 200
    assert (await public_get(api, url)).status == 404
    assert (await api.post(f"api/files/{fid}/restore")).status == 200
    assert (await public_get(api, url)).status == 200


async def test_links_follow_renames(api: APIClient, root_dir: Path) -> None:
    """Section 3.9: keyed by id."""
    fid, url = await shared_notebook(api, root_dir)
    assert (await api.patch("api/contents/n.ipynb", {"path": "renamed.ipynb"})).status == 200
    assert (await public_get(api, url + "/raw")).body == (root_dir / "renamed.ipynb").read_bytes()


async def test_the_share_token_is_no_api_credential(api: APIClient, root_dir: Path) -> None:
    """38"""
    _, url = await shared_notebook(api, root_dir)
    token = url.rsplit("/", 1)[1]
    assert (await api.get("api/contents", params={"token": token}, authenticated=False)).status == 401
    assert (await api.get("api/contents", authenticated=False,
                          headers={"Authorization": f"token {token}"})).status == 401
    assert (await api.post(url, authenticated=False)).status == 405
    assert (await api.request("DELETE", url + "/raw", authenticated=False)).status == 405


async def test_shared_pages_never_look_at_identity(api: APIClient, root_dir: Path, server_app: NotebookServerApp,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """38 / section 3.9: no cookie read (the identity provider is never asked), none set."""
    _, url = await shared_notebook(api, root_dir)

    def refuse(*args: Any) -> Any:
        raise AssertionError("a /shared request asked who the user is")

    monkeypatch.setattr(server_app.identity_provider, "authenticate", refuse)
    response = await api.request("GET", url, authenticated=False, headers={"Cookie": "anything=1"})
    assert response.status == 200 and "Set-Cookie" not in response.headers
    assert (await api.request("GET", "/shared/" + "B" * 43, authenticated=False)).status == 404


async def test_folders_cannot_be_shared(api: APIClient, root_dir: Path) -> None:
    (root_dir / "d").mkdir()
    fid = (await api.get("api/files/lookup", params={"path": "d"})).json()["id"]
    assert (await api.patch(f"api/files/{fid}", {"world_readable": True})).status == 400


@pytest.fixture
def server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return getattr(request, "param", {})


@pytest.mark.parametrize("server_config", [{"config": Config({"FileServices": {"allow_share_links": False}})}], indirect=True)
async def test_links_off_refuse_world_readable_and_answer_404(api: APIClient, root_dir: Path,
                                                             server_config: dict[str, Any]) -> None:
    """Section 3.9: allow_share_links False (JupyterHub's default)."""
    (root_dir / "t.txt").write_text("x")
    fid = (await api.get("api/files/lookup", params={"path": "t.txt"})).json()["id"]
    response = await api.patch(f"api/files/{fid}", {"world_readable": True})
    assert response.status == 403 and response.json()["code"] == "sharing_disabled"
    assert (await api.get(f"api/files/{fid}")).json()["world_readable"] is False
    upload = await api.post("api/files/upload", raw_body=b"x", headers={"X-File-Name": "u.txt",
                                                                          "Nbserver-World-Readable": "true"})
    assert upload.status == 403 and not (root_dir / "u.txt").exists()


@pytest.mark.parametrize("server_config", [{"config": Config({"FileServices": {"share_requests_per_minute": 3}})}],
                         indirect=True)
async def test_shared_links_are_rate_limited_per_address(api: APIClient, root_dir: Path,
                                                        server_config: dict[str, Any]) -> None:
    """Section 3.9: 429 past the limit, with Retry-After."""
    _, url = await shared_notebook(api, root_dir)
    statuses = [(await public_get(api, url + "/raw")).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = await public_get(api, url + "/raw")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-Robots-Tag"] == "noindex, nofollow"


async def test_the_link_key_is_private_and_a_new_key_hides_old_links(api: APIClient, root_dir: Path,
                                                                     server_app: NotebookServerApp) -> None:
    """Section 3.9: share.key is 0600 beside the database; a token it did not make is not shown, rotate mends."""
    fid, url = await shared_notebook(api, root_dir)
    key = root_dir / ".nbserver" / "share.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    key.write_bytes(b"k" * 32)
    services = server_app.file_services
    assert services is not None
    services.shares._key = None  # as after a restart with another key
    assert (await api.get(f"api/files/{fid}")).json()["share_url"] is None
    assert (await public_get(api, url)).status == 200  # the link itself still works: it is looked up by hash
    new_url = (await api.post(f"api/files/{fid}/share/rotate")).json()["share_url"]
    assert new_url and new_url != url and (await public_get(api, url)).status == 404
