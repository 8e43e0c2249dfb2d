"""In a real browser (headless Chromium): login form, token URL, cookie flags, sandboxed files.

These check what only a browser can: that the form's POST passes the origin and XSRF
checks, that the address bar loses the token, and that served HTML/SVG runs no script.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from nbserver.auth.passwords import hash_password
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, start_server, stop_process_group

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PASSWORD = "browser login password"
SCRIPT_HTML = ("<html><head><title>inert</title></head><body>"
               "<script>document.title = 'pwned'</script></body></html>")
SCRIPT_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned\'">'
              "<title>inert</title><script>document.title = 'pwned'</script><rect width='9' height='9'/></svg>")


@pytest.fixture
def password_server(tmp_path: Path, jupyter_env: dict[str, str]) -> Iterator[LiveServer]:
    config = Path(jupyter_env["config"]) / "nbserver_config.json"
    config.write_text(json.dumps({"IdentityProvider": {"hashed_password": hash_password(PASSWORD)}}))
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.html").write_text(SCRIPT_HTML)
    (root / "image.svg").write_text(SCRIPT_SVG)
    server = start_server(root, tmp_path / "server.log")
    try:
        yield server
    finally:
        stop_process_group(server.process)


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


def session_cookie(page: Any) -> dict[str, Any]:
    return next(c for c in page.context.cookies() if c["name"].startswith("nbserver-session"))


def test_password_login_in_a_browser(password_server: LiveServer, chromium_page: Any):
    page = chromium_page
    page.goto(password_server.page_url("tree"))
    assert "/login?next=%2Ftree" in page.url
    page.fill("#password", "wrong")
    page.click("button[type=submit]")
    assert "Wrong password" in page.content()
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(password_server.page_url("tree"))
    cookie = session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    page.goto(password_server.page_url("logout"))
    assert page.url.startswith(password_server.page_url("login"))
    assert not [c for c in page.context.cookies() if c["name"].startswith("nbserver-session")]
    page.goto(password_server.page_url("tree"))
    assert "/login" in page.url


def test_token_url_leaves_the_address_bar(password_server: LiveServer, chromium_page: Any):
    page = chromium_page
    page.goto(password_server.page_url(f"tree?token={password_server.token}"))
    page.wait_for_load_state()
    assert page.url == password_server.page_url("tree")
    assert session_cookie(page)["httpOnly"] is True


@pytest.mark.parametrize("name", ["page.html", "image.svg"])
def test_served_html_and_svg_run_no_script(name: str, password_server: LiveServer, chromium_page: Any):
    page = chromium_page
    page.goto(password_server.page_url(f"tree?token={password_server.token}"))
    control = SCRIPT_HTML if name.endswith(".html") else f"<html><body>{SCRIPT_SVG}</body></html>"
    page.set_content(control)  # the control: unsandboxed, this document does run its script
    assert page.title() == "pwned"
    page.goto(password_server.page_url(f"files/{name}"))
    page.wait_for_timeout(300)
    assert page.title() != "pwned"
    page.goto(password_server.page_url(f"view/{name}"))
    page.wait_for_timeout(500)
    assert page.title() != "pwned"
    assert len(page.frames) >= 1
    for frame in page.frames:  # the page and the frame that shows the file
        assert frame.title() != "pwned", frame.url



@contextlib.contextmanager
def other_port_page(html: str) -> Iterator[str]:
    """A real web server on another port of 127.0.0.1 (same site, another origin) serving ``html``."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/evil.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_another_port_of_the_host_cannot_include_files_as_script(password_server: LiveServer, chromium_page: Any):
    """XSSI: a page on another port is the same *site*, so the SameSite cookie rides along."""
    (password_server.root / "secret.js").write_text("window.leaked = 'do-not-leak';")
    page = chromium_page
    page.goto(password_server.page_url(f"tree?token={password_server.token}"))  # logged in by cookie
    script_url = password_server.page_url("files/secret.js")
    html = f"<html><body><script src='{script_url}'></script></body></html>"
    with other_port_page(html) as evil_page:
        page.goto(evil_page)
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.leaked") is None
    # The control: the same document served from the server's own origin does load it.
    own_page = password_server.page_url("control.html")
    page.route(own_page, lambda route: route.fulfill(content_type="text/html", body=html))
    page.goto(own_page)
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.leaked") == "do-not-leak"


PAYLOAD = ("<img src=x onerror=\"try{top.document.title='pwned'}catch(e){};try{top.pwned=1}catch(e){}\">"
           "<script>try{top.document.title='pwned'}catch(e){};try{top.pwned=1}catch(e){}</script>")


def hostile_notebook() -> dict[str, Any]:
    payload = PAYLOAD
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": "# Title\n\n" + payload},
            {"cell_type": "code", "id": "c1", "execution_count": 1, "metadata": {}, "source": "x",
             "outputs": [
                 {"output_type": "display_data", "metadata": {}, "data": {"text/html": payload}},
                 {"output_type": "display_data", "metadata": {},
                  "data": {"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' onload=\"top.pwned=1\"/>"}},
                 {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": payload}},
             ]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.mark.parametrize("page_path", ["notebooks/hostile.ipynb", "nbconvert/html/hostile.ipynb",
                                       "view/hostile.ipynb"])
def test_untrusted_notebook_runs_no_script_on_the_server_origin(page_path: str, password_server: LiveServer,
                                                                 chromium_page: Any):
    (password_server.root / "hostile.ipynb").write_text(json.dumps(hostile_notebook()))
    page = chromium_page
    page.set_content(f"<title>inert</title>{PAYLOAD}")  # the control: as plain HTML it does run
    page.wait_for_function("() => window.pwned === 1")
    page.goto(password_server.page_url(f"tree?token={password_server.token}"))
    page.goto(password_server.page_url(page_path))
    page.wait_for_timeout(1500)
    assert page.title() != "pwned"
    assert page.evaluate("() => window.pwned") is None
