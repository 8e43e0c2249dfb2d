"""Regression tests for each class of past Jupyter Server / Notebook security advisories.

One section per class: path containment, hidden files and the server's own secrets, open
redirects, script injection through names, served/converted HTML and SVG, JSON read
cross-site, secrets in logs, error bodies, origin patterns (in test_browser_protection),
password changes (in tests/auth/test_login.py) and static file paths.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from nbserver.auth.passwords import hash_password
from nbserver.auth.serverinfo import write_server_info
from tests.support.browser_session import BrowserSession

SECRET = "top-secret-content-42"
XSS_NAME = '<img src=x onerror=alert(1)>.txt'
XSS_DIR = '"><svg onload=alert(1)>'
SCRIPT_HTML = "<html><body><script>document.title='pwned'</script></body></html>"
SCRIPT_SVG = ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script>'
              '<rect width="10" height="10"/></svg>')
NOTEBOOK_WITH_SCRIPT = {
    "cells": [{"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": "x",
               "outputs": [{"output_type": "display_data", "metadata": {},
                            "data": {"text/html": "<script>alert(document.domain)</script>"}}]}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def fetch(http_client: Any, url: str, **kwargs: Any) -> Any:
    return await http_client.fetch(url, raise_error=False, follow_redirects=False, request_timeout=30, **kwargs)


# -- containment: string prefixes and .. ---------------------------------------------------


@pytest.fixture
def sibling_secret(root_dir: Path) -> Path:
    """A folder next to the root whose name starts with the root's name (``root`` vs ``root2``)."""
    sibling = root_dir.parent / (root_dir.name + "2")
    sibling.mkdir()
    (sibling / "secret.txt").write_text(SECRET)
    (root_dir / "inside.txt").write_text("fine")
    return sibling


ESCAPES = [
    "../{sib}/secret.txt", "..%2F{sib}%2Fsecret.txt", "%2E%2E/{sib}/secret.txt",
    "sub/../../{sib}/secret.txt", "..%5C{sib}%5Csecret.txt", "%2F..%2F{sib}%2Fsecret.txt",
]


@pytest.mark.gen_test(timeout=60)
async def test_paths_outside_the_root_are_refused_everywhere(http_server, http_client, base_url, token,
                                                             sibling_secret, root_dir):
    (root_dir / "sub").mkdir()
    sib = sibling_secret.name
    leaks = []
    for prefix in ("/api/contents/", "/files/", "/view/", "/notebooks/", "/edit/", "/nbconvert/html/",
                   "/api/contents/sub/"):
        for escape in ESCAPES:
            url = base_url + prefix + escape.format(sib=sib)
            response = await fetch(http_client, url, headers=auth(token))
            body = response.body or b""
            if response.code == 200 and SECRET.encode() in body or SECRET.encode() in body:
                leaks.append(f"{prefix}{escape}: {response.code}")
    assert leaks == []


@pytest.mark.gen_test(timeout=30)
async def test_prefix_sibling_is_not_inside_the_root(api, sibling_secret):
    """``/srv/nb2`` next to ``/srv/nb``: by string prefix it would look inside."""
    response = await api.get("api/contents/../" + sibling_secret.name, params={"content": "1"})
    assert response.status in (400, 403, 404)
    assert SECRET not in response.body.decode()


@pytest.mark.gen_test(timeout=30)
async def test_symlink_out_of_the_root_is_refused(api, root_dir, sibling_secret):
    (root_dir / "link").symlink_to(sibling_secret)
    response = await api.get("api/contents/link/secret.txt")
    assert response.status in (403, 404)
    assert SECRET not in response.body.decode()


# -- hidden files and the server's own secrets -------------------------------------------


@pytest.fixture
def info_file_in_hidden_runtime(root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worst case: the runtime dir (with the token) inside the served root, hidden by its name."""
    runtime = root_dir / ".runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    path = write_server_info(str(runtime), {"pid": 4242, "token": SECRET, "port": 1, "url": "x"})
    return Path(path)


@pytest.mark.gen_test(timeout=30)
async def test_info_file_cannot_be_read_by_guessing_its_name(http_server, http_client, base_url, token,
                                                             info_file_in_hidden_runtime):
    relative = ".runtime/" + info_file_in_hidden_runtime.name
    for prefix in ("/api/contents/", "/files/", "/view/", "/edit/", "/nbconvert/html/"):
        response = await fetch(http_client, base_url + prefix + relative, headers=auth(token))
        assert response.code in (400, 403, 404), prefix
        assert SECRET.encode() not in (response.body or b""), prefix


@pytest.mark.gen_test(timeout=30)
async def test_hidden_runtime_folder_is_not_listed(api, info_file_in_hidden_runtime):
    listing = await api.get("api/contents")
    assert ".runtime" not in [entry["name"] for entry in listing.json()["content"]]


def test_default_runtime_dir_is_outside_the_root(server_app, root_dir):
    runtime = Path(server_app.runtime_dir).resolve()
    assert root_dir.resolve() not in runtime.parents


@pytest.mark.gen_test(timeout=30)
async def test_cookie_secret_is_not_reachable(api, server_app):
    """The cookie-signing key lives in the data dir, outside the root, mode 0600."""
    secret_file = Path(server_app.identity_provider.cookie_secret_file)
    assert secret_file.exists()
    assert secret_file.stat().st_mode & 0o077 == 0
    assert Path(server_app.root_dir).resolve() not in secret_file.resolve().parents


# -- open redirects through next ------------------------------------------------------------

OPEN_REDIRECTS = [
    "//evil.example", "//evil.example/tree", "https://evil.example", "http:evil.example",
    "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "%2F%2Fevil.example", "/%2F/evil.example",
    "%5C%5Cevil.example", "/%5Cevil.example", "https:%2F%2Fevil.example", "javascript:alert(1)",
    "/\t/evil.example", "///evil.example", " //evil.example", "evil.example", "/%09/evil.example",
]


def assert_local(location: str) -> None:
    assert location.startswith("/") and not location.startswith("//"), location
    assert "\\" not in location and "evil.example" not in location, location


@pytest.fixture
def with_password(server_app: Any) -> str:
    password = "open-redirect-test"
    server_app.identity_provider.hashed_password = hash_password(password)
    return password


@pytest.mark.parametrize("next_url", OPEN_REDIRECTS)
@pytest.mark.gen_test(timeout=30)
async def test_login_next_never_leaves_the_server(next_url, browser_session: BrowserSession, with_password):
    response = await browser_session.login(with_password, next_path=next_url)
    assert response.status == 303
    assert_local(response.headers["Location"])
    assert response.headers["Location"] == "/tree"


@pytest.mark.parametrize("next_url", OPEN_REDIRECTS)
@pytest.mark.gen_test(timeout=30)
async def test_logged_in_login_page_next_never_leaves_the_server(next_url, browser_session: BrowserSession,
                                                                 token):
    await browser_session.get(f"/tree?token={token}")
    response = await browser_session.get("/login?" + urlencode({"next": next_url}))
    assert response.status == 302
    assert_local(response.headers["Location"])


@pytest.mark.gen_test(timeout=30)
async def test_login_form_action_keeps_only_a_local_next(browser_session: BrowserSession):
    response = await browser_session.get("/login?" + urlencode({"next": "//evil.example"}))
    assert b"evil.example" not in response.body


@pytest.mark.parametrize("path", ["//evil.example", "/tree//evil.example", "/tree/%2F%2Fevil.example",
                                  "/tree/..%2F..%2Fevil", "/files/\\evil.example"])
@pytest.mark.gen_test(timeout=30)
async def test_login_redirect_of_pages_stays_local(path, http_server, http_client, base_url):
    response = await fetch(http_client, base_url + path)
    if response.code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location
        next_values = parse_qs(urlsplit(location).query).get("next", [])
        for value in next_values:
            assert value.startswith("/") and not value.startswith("//") and "\\" not in value


@pytest.mark.gen_test(timeout=30)
async def test_token_exchange_redirect_stays_local(http_server, http_client, base_url, token):
    response = await fetch(http_client, base_url + "//evil.example/tree?token=" + token)
    if response.code in (301, 302, 303, 307, 308):
        assert_local(response.headers["Location"])


# -- script injection through file and folder names ---------------------------------------


@pytest.fixture
def hostile_names(root_dir: Path) -> Path:
    (root_dir / XSS_NAME).write_text("x")
    folder = root_dir / XSS_DIR
    folder.mkdir()
    (folder / XSS_NAME).write_text("x")
    (folder / "n.ipynb").write_text(json.dumps(NOTEBOOK_WITH_SCRIPT))
    return folder


def assert_no_raw_markup(body: bytes) -> None:
    text = body.decode("utf-8", "replace")
    assert "<img src=x onerror" not in text
    assert "<script>alert(1)" not in text
    assert "<svg onload" not in text


@pytest.mark.gen_test(timeout=60)
async def test_names_are_escaped_in_every_page(http_server, http_client, base_url, token, hostile_names):
    folder = quote(XSS_DIR, safe="")
    name = quote(XSS_NAME, safe="")
    for path in ("/tree", f"/tree/{folder}", f"/view/{folder}/{name}", f"/edit/{folder}/{name}",
                 f"/notebooks/{folder}/n.ipynb", f"/tree/{folder}/missing-{name}", f"/view/missing-{name}",
                 f"/notebooks/{folder}/missing-{name}"):
        response = await fetch(http_client, base_url + path, headers=auth(token))
        assert response.code in (200, 302, 404), path
        assert_no_raw_markup(response.body or b"")


@pytest.mark.gen_test(timeout=30)
async def test_login_page_escapes_next(browser_session: BrowserSession):
    response = await browser_session.get("/login?" + urlencode({"next": '/tree/"><script>alert(1)</script>'}))
    assert_no_raw_markup(response.body)


@pytest.mark.gen_test(timeout=30)
async def test_api_error_messages_are_json_not_html(api):
    response = await api.get("api/contents/" + quote(XSS_DIR, safe=""))
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/json")


# -- served and converted HTML/SVG cannot run script on the server's origin ---------------


def assert_sandboxed(response: Any, where: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    disposition = response.headers.get("Content-Disposition", "")
    sandboxed = any(d.strip().split(" ")[0] == "sandbox" and "allow-same-origin" not in d
                    for d in csp.split(";"))
    assert sandboxed or disposition.startswith("attachment"), (where, csp, disposition)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


@pytest.fixture
def active_files(root_dir: Path) -> None:
    (root_dir / "page.html").write_text(SCRIPT_HTML)
    (root_dir / "page.htm").write_text(SCRIPT_HTML)
    (root_dir / "image.svg").write_text(SCRIPT_SVG)
    (root_dir / "page.xhtml").write_text(SCRIPT_HTML)
    (root_dir / "page.xml").write_text(SCRIPT_SVG)
    (root_dir / "no-extension").write_text(SCRIPT_HTML)
    (root_dir / "page.txt").write_text(SCRIPT_HTML)
    (root_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK_WITH_SCRIPT))


@pytest.mark.parametrize("name", ["page.html", "page.htm", "image.svg", "page.xhtml", "page.xml", "no-extension",
                                  "page.txt", "n.ipynb"])
@pytest.mark.gen_test(timeout=30)
async def test_files_cannot_run_script_on_the_server_origin(name, http_server, http_client, base_url, token,
                                                            active_files):
    for query in ("", "?download=1"):
        response = await fetch(http_client, f"{base_url}/files/{name}{query}", headers=auth(token))
        assert response.code == 200, name
        assert_sandboxed(response, f"/files/{name}{query}")


@pytest.mark.gen_test(timeout=30)
async def test_view_frames_html_only_sandboxed(http_server, http_client, base_url, token, active_files):
    for name in ("page.html", "image.svg"):
        response = await fetch(http_client, f"{base_url}/view/{name}", headers=auth(token))
        assert response.code == 200
        body = response.body.decode()
        assert "<script>document.title" not in body and "<script>alert(document.cookie)" not in body
        for tag in body.split("<iframe")[1:]:
            assert "sandbox" in tag.split(">")[0], tag[:200]
            assert "allow-same-origin" not in tag.split(">")[0]


@pytest.mark.gen_test(timeout=120)
async def test_nbconvert_html_cannot_run_script_on_the_server_origin(http_server, http_client, base_url,
                                                                     token, active_files):
    response = await fetch(http_client, f"{base_url}/nbconvert/html/n.ipynb", headers=auth(token))
    assert response.code == 200
    assert_sandboxed(response, "/nbconvert/html")


# -- authenticated JSON read cross-site ---------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_json_is_typed_nosniff_and_cookie_not_sent_cross_site(browser_session: BrowserSession, token):
    await browser_session.get(f"/tree?token={token}")
    session_header = next(h for h in browser_session.set_cookie_headers if h.startswith("nbserver-session"))
    assert "samesite=lax" in session_header.lower()  # not sent with a cross-site <script src>
    response = await browser_session.get("/api/contents")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body.lstrip().startswith(b"{")  # an object literal is not a script that leaks


# -- error bodies: no tracebacks or paths ------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_unexpected_error_body_has_no_traceback_or_path(api, server_app, root_dir, monkeypatch):
    async def broken_get(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom at {root_dir}/private/thing.py")

    monkeypatch.setattr(server_app.contents_manager, "get", broken_get)
    response = await api.get("api/contents/x")
    assert response.status == 500
    body = response.body.decode()
    assert "Traceback" not in body and str(root_dir) not in body and "boom" not in body
    assert set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test(timeout=30)
async def test_not_found_body_has_no_absolute_path(http_server, http_client, base_url, token, root_dir):
    for path in ("/api/contents/missing/file.txt", "/files/missing/file.txt", "/tree/missing",
                 "/nbconvert/html/missing.ipynb", "/api/no-such-route"):
        response = await fetch(http_client, base_url + path, headers=auth(token))
        assert response.code == 404, path
        body = (response.body or b"").decode()
        assert str(root_dir) not in body and "Traceback" not in body, path


# -- static files: absolute, UNC-like and traversal paths ---------------------------------


@pytest.mark.parametrize("path", [
    "/static//etc/passwd", "/static/%2Fetc%2Fpasswd", "/static/../app.py", "/static/..%2Fapp.py",
    "/static/%2E%2E/app.py", "/static/%5C%5Cserver%5Cshare%5Cfile", "/static/\\\\server\\share\\file",
    "/static/C:%5CWindows%5Cwin.ini", "/static/C:/Windows/win.ini", "/static/css/..%2F..%2F__init__.py",
    "/static/..%5C..%5C__init__.py",
])
@pytest.mark.gen_test(timeout=30)
async def test_static_refuses_absolute_unc_and_traversal_paths(path, http_server, http_client, base_url):
    response = await fetch(http_client, base_url + path)
    assert response.code in (400, 403, 404), (path, response.code)
    body = response.body or b""
    assert b"root:" not in body and b"import" not in body and b"__version__" not in body


@pytest.mark.parametrize("path", [
    "/files/%5C%5Cattacker.example%5Cshare%5Cx.txt", "/files//attacker.example/share/x.txt",
    "/api/contents/%5C%5Cattacker.example%5Cshare", "/api/contents//etc/passwd", "/files/%2Fetc%2Fpasswd",
    "/view/%2Fetc%2Fpasswd", "/nbconvert/html/%2Fetc%2Fpasswd",
])
@pytest.mark.gen_test(timeout=30)
async def test_absolute_and_unc_like_content_paths_are_not_followed(path, http_server, http_client, base_url,
                                                                    token):
    response = await fetch(http_client, base_url + path, headers=auth(token))
    assert response.code in (400, 403, 404), (path, response.code)
    assert b"root:" not in (response.body or b"")


# -- secrets in logs ----------------------------------------------------------------------


@pytest.fixture
def captured_log(server_app: Any) -> Iterator[list[str]]:
    """Every line the server's log handlers would write, after their filters."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collector = Collect(level=logging.DEBUG)
    for existing in server_app.log.handlers:
        for log_filter in existing.filters:
            collector.addFilter(log_filter)
    loggers = [server_app.log, logging.getLogger("nbserver"), logging.getLogger("tornado.general"),
               logging.getLogger("tornado.application")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
        logger.setLevel(logging.DEBUG)
    yield lines
    for logger, level in zip(loggers, levels):
        logger.removeHandler(collector)
        logger.setLevel(level)


@pytest.mark.gen_test(timeout=30)
async def test_logs_never_show_tokens_cookies_or_passwords(http_server, http_client, base_url, token,
                                                           server_app, captured_log, monkeypatch):
    async def broken_get(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"failure while handling token={token}")

    session = BrowserSession(http_client, base_url)
    await session.get(f"/tree?token={token}")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    await fetch(http_client, f"{base_url}/api/status?token={token}",
                headers={"Referer": f"{base_url}/tree?token={token}", "Cookie": cookie})
    await fetch(http_client, f"{base_url}/api/nope", headers={"Authorization": f"token {token}"})
    await fetch(http_client, f"{base_url}/api/status?token=wrong-guess-1234")
    await session.login("my-wrong-password-xyz")
    monkeypatch.setattr(server_app.contents_manager, "get", broken_get)
    await fetch(http_client, f"{base_url}/api/contents/x?token={token}",  # a 500, with Referer and cookie
                headers={"Referer": f"{base_url}/tree?token={token}", "Cookie": cookie})
    text = "\n".join(captured_log)
    assert "/api/status" in text and "Uncaught exception" in text  # the requests were logged
    for secret in (token, "wrong-guess-1234", "my-wrong-password-xyz", session.cookies.get("_xsrf", "-"),
                   cookie.split("=", 1)[1][:40]):
        assert secret not in text
