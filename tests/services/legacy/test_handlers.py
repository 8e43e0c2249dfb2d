"""/api/notebooks/<path>: the classic notebooks API redirects to /api/contents, followed by a real client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from tests.conftest import TEST_TOKEN


async def fetch(http_client: Any, url: str, method: str = "GET", body: Any = None,
                follow: bool = True) -> HTTPResponse:
    data = None if body is None else json.dumps(body).encode()
    if data is None and method in ("POST", "PUT", "PATCH"):
        data = b""
    return await http_client.fetch(url, method=method, body=data, follow_redirects=follow, raise_error=False,
                                   headers={"Authorization": f"token {TEST_TOKEN}"}, request_timeout=30)


@pytest.mark.gen_test(timeout=30)
async def test_get_is_a_301_to_the_contents_api_with_the_query_kept(http_client, base_url, root_dir):
    (root_dir / "a b.txt").write_text("hello")
    response = await fetch(http_client, base_url + "/api/notebooks/a%20b.txt?content=0", follow=False)
    assert response.code == 301
    assert response.headers["Location"] == "/api/contents/a%20b.txt?content=0"


@pytest.mark.gen_test(timeout=30)
async def test_a_followed_get_returns_the_contents_model(http_client, base_url, root_dir):
    (root_dir / "sub").mkdir()
    (root_dir / "sub" / "n.txt").write_text("hello")
    response = await fetch(http_client, base_url + "/api/notebooks/sub/n.txt")
    assert response.code == 200 and response.effective_url.endswith("/api/contents/sub/n.txt")
    model = json.loads(response.body)
    assert model["content"] == "hello" and model["path"] == "sub/n.txt"


@pytest.mark.gen_test(timeout=30)
async def test_head_is_a_301(http_client, base_url, root_dir):
    (root_dir / "x.txt").write_text("x")
    response = await fetch(http_client, base_url + "/api/notebooks/x.txt", method="HEAD", follow=False)
    assert response.code == 301 and response.headers["Location"] == "/api/contents/x.txt"


@pytest.mark.gen_test(timeout=30)
async def test_writes_are_308_and_the_followed_put_saves_with_its_body(http_client, base_url, root_dir):
    url = base_url + "/api/notebooks/new.txt"
    body = {"type": "file", "format": "text", "content": "saved through the old API"}
    redirect = await fetch(http_client, url, method="PUT", body=body, follow=False)
    assert redirect.code == 308 and redirect.headers["Location"] == "/api/contents/new.txt"
    assert not (root_dir / "new.txt").exists()
    saved = await fetch(http_client, url, method="PUT", body=body)
    assert saved.code == 201
    assert (root_dir / "new.txt").read_text() == "saved through the old API"


@pytest.mark.gen_test(timeout=30)
async def test_followed_patch_post_and_delete_act_on_the_contents(http_client, base_url, root_dir):
    (root_dir / "old.txt").write_text("x")
    renamed = await fetch(http_client, base_url + "/api/notebooks/old.txt", method="PATCH", body={"path": "new.txt"})
    assert renamed.code == 200 and (root_dir / "new.txt").exists()
    created = await fetch(http_client, base_url + "/api/notebooks", method="POST", body={"type": "notebook"})
    assert created.code == 201 and json.loads(created.body)["path"] == "Untitled.ipynb"
    deleted = await fetch(http_client, base_url + "/api/notebooks/new.txt", method="DELETE")
    assert deleted.code == 204 and not (root_dir / "new.txt").exists()
    assert (await fetch(http_client, base_url + "/api/notebooks/x", method="DELETE", follow=False)).code == 308


@pytest.mark.gen_test(timeout=30)
async def test_the_redirect_needs_authentication(http_client, base_url):
    response = await http_client.fetch(base_url + "/api/notebooks/a.txt", raise_error=False, follow_redirects=False)
    assert response.code == 401 and set(json.loads(response.body)) >= {"message", "reason"}


@pytest.mark.parametrize("server_config", [{"base_url": "/prefix/"}])
@pytest.mark.gen_test(timeout=30)
async def test_the_redirect_stays_under_the_base_url(server_config, http_client, base_url, root_dir):
    (root_dir / "a.txt").write_text("under the prefix")
    prefix = base_url + "/prefix"
    redirect = await fetch(http_client, prefix + "/api/notebooks/a.txt", follow=False)
    assert redirect.code == 301 and redirect.headers["Location"] == "/prefix/api/contents/a.txt"
    followed = await fetch(http_client, prefix + "/api/notebooks/a.txt")
    assert followed.code == 200 and json.loads(followed.body)["content"] == "under the prefix"
