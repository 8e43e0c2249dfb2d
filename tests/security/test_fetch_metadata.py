"""Cross-site script inclusion (XSSI): a browser's cookie does not authenticate subresource
requests made by pages of other origins, as told by the Fetch Metadata headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser_session import BrowserSession

SCRIPT_INCLUDE = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"}


@pytest.fixture
def secret_script(root_dir: Path) -> Path:
    path = root_dir / "secret.js"
    path.write_text("var secret = 'do-not-leak';")
    return path


async def logged_in(browser_session: BrowserSession, token: str) -> BrowserSession:
    await browser_session.get(f"/tree?token={token}")
    return browser_session


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
@pytest.mark.gen_test(timeout=30)
async def test_file_included_as_script_by_another_origin_is_not_served(site, browser_session, token,
                                                                       secret_script):
    session = await logged_in(browser_session, token)
    response = await session.get("/files/secret.js", headers={**SCRIPT_INCLUDE, "Sec-Fetch-Site": site})
    assert response.status == 302 and response.headers["Location"].startswith("/login")
    assert b"do-not-leak" not in response.body


@pytest.mark.gen_test(timeout=30)
async def test_api_json_fetched_by_another_origin_with_the_cookie_is_401(browser_session, token, secret_script):
    session = await logged_in(browser_session, token)
    response = await session.get("/api/contents/secret.js", headers={
        "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty",
        "Origin": "http://localhost:1"})
    assert response.status in (401, 403)
    assert b"do-not-leak" not in response.body


@pytest.mark.gen_test(timeout=30)
async def test_same_origin_subresource_is_served(browser_session, token, secret_script):
    session = await logged_in(browser_session, token)
    response = await session.get("/files/secret.js", headers={**SCRIPT_INCLUDE, "Sec-Fetch-Site": "same-origin"})
    assert response.status == 200


@pytest.mark.gen_test(timeout=30)
async def test_following_a_link_from_another_site_is_served(browser_session, token, secret_script):
    session = await logged_in(browser_session, token)
    response = await session.get("/files/secret.js", headers={
        "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    assert response.status == 200


@pytest.mark.gen_test(timeout=30)
async def test_token_authenticated_requests_are_not_affected(api, secret_script):
    response = await api.get("api/contents/secret.js", headers=SCRIPT_INCLUDE)
    assert response.status == 200


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example", "allow_credentials": True}])
@pytest.mark.gen_test(timeout=30)
async def test_configured_cors_origin_may_use_the_cookie(server_config, browser_session, token, secret_script):
    session = await logged_in(browser_session, token)
    response = await session.get("/api/contents/secret.js", headers={
        "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty",
        "Origin": "https://app.example"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
