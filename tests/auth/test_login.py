"""Token in header, query and cookie; the query token exchange; password login, logout, rate limit."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from nbserver.auth.passwords import hash_password
from tests.support.browser_session import BrowserSession

PASSWORD = "correct horse battery staple"
HASHED = hash_password(PASSWORD)


@pytest.fixture
def server_config() -> dict[str, Any]:
    return {}


def set_password(server_app: Any, hashed: str) -> None:
    server_app.identity_provider.hashed_password = hashed


@pytest.mark.gen_test(timeout=30)
async def test_token_in_header_authenticates_api(api):
    response = await api.get("api/me")
    assert response.status == 200
    assert response.json()["identity"]["username"] == "nbserver"


@pytest.mark.gen_test(timeout=30)
async def test_token_in_query_authenticates_api(api, token):
    response = await api.get("api/status", params={"token": token}, authenticated=False)
    assert response.status == 200


@pytest.mark.gen_test(timeout=30)
async def test_no_token_is_401_json(api):
    response = await api.get("api/status", authenticated=False)
    assert response.status == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test(timeout=30)
async def test_wrong_token_in_header_is_401(api):
    response = await api.get("api/status", authenticated=False,
                             headers={"Authorization": "token not-the-token"})
    assert response.status == 401


@pytest.mark.gen_test(timeout=30)
async def test_query_token_on_page_sets_cookie_and_redirects_without_it(browser_session: BrowserSession, token):
    response = await browser_session.get(f"/tree?token={token}&sort=name")
    assert response.status == 302
    location = response.headers["Location"]
    assert token not in location
    assert urlsplit(location).path == "/tree"
    assert parse_qs(urlsplit(location).query) == {"sort": ["name"]}
    assert response.headers["Referrer-Policy"] == "no-referrer"
    session_cookies = [h for h in browser_session.set_cookie_headers if h.startswith("nbserver-session")]
    assert len(session_cookies) == 1
    attributes = session_cookies[0].lower()
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" not in attributes  # plain http here; https requests get Secure
    assert token not in session_cookies[0]


@pytest.mark.gen_test(timeout=30)
async def test_session_cookie_from_query_token_opens_pages_and_api(browser_session: BrowserSession, token):
    await browser_session.get(f"/tree?token={token}")
    page = await browser_session.get("/tree")
    assert page.status == 200
    me = await browser_session.get("/api/me")
    assert me.status == 200


@pytest.mark.gen_test(timeout=30)
async def test_wrong_query_token_is_stripped_and_leads_to_login(browser_session: BrowserSession):
    response = await browser_session.get("/tree?token=wrong-token")
    assert response.status == 302
    assert response.headers["Location"] == "/tree"
    assert browser_session.session_cookie_names() == []
    follow = await browser_session.get("/tree")
    assert follow.status == 302
    assert follow.headers["Location"] == "/login?next=%2Ftree"


@pytest.mark.gen_test(timeout=30)
async def test_forged_session_cookie_is_refused(browser_session: BrowserSession, token):
    await browser_session.get(f"/tree?token={token}")
    name = browser_session.session_cookie_names()[0]
    browser_session.cookies[name] = browser_session.cookies[name][:-4] + "AAAA"
    assert (await browser_session.get("/api/me")).status == 401


@pytest.mark.gen_test(timeout=30)
async def test_login_page_shows_a_form_with_xsrf(browser_session: BrowserSession):
    response = await browser_session.get("/login?next=/tree")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert b'name="_xsrf"' in response.body and b'name="password"' in response.body
    assert "_xsrf" in browser_session.cookies


@pytest.mark.gen_test(timeout=30)
async def test_password_login_sets_session_and_redirects_to_next(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    response = await browser_session.login(PASSWORD, next_path="/tree/sub%20dir")
    assert response.status == 303
    assert response.headers["Location"] == "/tree/sub%20dir"
    assert browser_session.session_cookie_names()
    assert (await browser_session.get("/api/me")).status == 200


@pytest.mark.gen_test(timeout=30)
async def test_token_typed_in_login_form_logs_in(browser_session: BrowserSession, token):
    response = await browser_session.login(token)
    assert response.status == 303
    assert response.headers["Location"] == "/tree"


@pytest.mark.gen_test(timeout=30)
async def test_wrong_password_is_401_and_no_session(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    response = await browser_session.login("wrong password")
    assert response.status == 401
    assert b"Wrong password" in response.body
    assert browser_session.session_cookie_names() == []


@pytest.mark.gen_test(timeout=30)
async def test_login_post_without_xsrf_is_refused(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    response = await browser_session.post_form("/login", {"password": PASSWORD})
    assert response.status == 403
    assert browser_session.session_cookie_names() == []


@pytest.mark.gen_test(timeout=30)
async def test_logout_ends_the_session(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    await browser_session.login(PASSWORD)
    assert (await browser_session.get("/api/me")).status == 200
    response = await browser_session.get("/logout")
    assert response.status == 302
    assert response.headers["Location"] == "/login"
    assert browser_session.session_cookie_names() == []
    assert (await browser_session.get("/api/me")).status == 401


@pytest.mark.gen_test(timeout=30)
async def test_failed_logins_are_rate_limited_per_client(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    limit = server_app.identity_provider.login_max_failures
    for _ in range(limit):
        assert (await browser_session.login("wrong")).status == 401
    blocked = await browser_session.login(PASSWORD)  # even the right password waits
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert browser_session.session_cookie_names() == []
    server_app.identity_provider.login_limiter.reset("127.0.0.1")
    assert (await browser_session.login(PASSWORD)).status == 303


@pytest.mark.gen_test(timeout=30)
async def test_failed_login_is_logged_without_the_password(server_app, browser_session: BrowserSession, caplog):
    set_password(server_app, HASHED)
    import logging

    logger = logging.getLogger("nbserver")
    logger.addHandler(caplog.handler)
    try:
        await browser_session.login("hunter2-wrong")
    finally:
        logger.removeHandler(caplog.handler)
    messages = [record.getMessage() for record in caplog.records]
    assert any("Failed login from 127.0.0.1" in message for message in messages)
    assert not any("hunter2-wrong" in message for message in messages)


@pytest.mark.gen_test(timeout=30)
async def test_changing_the_password_ends_existing_sessions(server_app, browser_session: BrowserSession):
    set_password(server_app, HASHED)
    await browser_session.login(PASSWORD)
    assert (await browser_session.get("/api/me")).status == 200
    set_password(server_app, hash_password("a new password"))
    assert (await browser_session.get("/api/me")).status == 401
    page = await browser_session.get("/tree")
    assert page.status == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.gen_test(timeout=30)
async def test_logged_in_visit_to_login_goes_to_next(browser_session: BrowserSession, token):
    await browser_session.get(f"/tree?token={token}")
    response = await browser_session.get("/login?next=/tree/a")
    assert response.status == 302
    assert response.headers["Location"] == "/tree/a"
