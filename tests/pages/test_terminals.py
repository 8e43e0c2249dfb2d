"""The terminal page: served for running terminals only, and used by a person in headless Chromium."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest

from tests.support.browser import LiveServer, screenshot
from tests.support.terminal_client import TEST_SHELL, TEST_SHELL_ARGS


@pytest.fixture
def live_server_args() -> tuple[str, ...]:
    return TEST_SHELL_ARGS


# -- over HTTP (in-process server) -----------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_page_of_a_running_terminal_loads_the_vendored_xterm(api, server_app):
    server_app.terminal_manager.shell_command = TEST_SHELL
    assert (await api.post("api/terminals", {})).status == 200
    response = await api.get("terminals/1")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
    assert b'data-terminal-name="1"' in response.body
    assert re.search(rb'href="/static/vendor/xterm/xterm\.css\?v=\w+"', response.body)
    assert b"https://" not in response.body  # nothing from a CDN
    for path in ("static/vendor/xterm/xterm.mjs", "static/vendor/xterm-addon-fit/addon-fit.mjs",
                 "static/vendor/xterm/LICENSE", "static/js/terminal.js"):
        assert (await api.get(path)).status == 200, path


@pytest.mark.gen_test(timeout=60)
async def test_page_of_an_unknown_terminal_is_404_and_starts_nothing(api, server_app):
    response = await api.get("terminals/7")
    assert response.status == 404 and b"Terminal not found: 7" in response.body
    assert (await api.get("api/terminals")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_page_without_login_redirects_to_login(api, server_app):
    response = await api.get("terminals/1", authenticated=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login?next=")


# -- in a browser ----------------------------------------------------------------------------


def terminal_names(server: LiveServer) -> list[str]:
    request = urllib.request.Request(server.page_url("api/terminals"),
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [model["name"] for model in json.load(response)]


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_a_person_opens_a_terminal_types_a_command_and_shuts_it_down(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "project").mkdir()
    page.goto(live_server.page_url(f"tree/project?token={live_server.token}"))
    page.click("#new-button")
    page.locator("#new-terminal").wait_for()
    screenshot(page, "dashboard-new-terminal")
    page.click("#new-terminal")
    page.wait_for_url(re.compile(r"/terminals/1$"))
    page.wait_for_selector("#terminal-state[data-state='connected']")
    page.locator("#terminal .xterm-screen").click()
    page.keyboard.type("pwd; echo nb-$((6*7))")
    page.keyboard.press("Enter")
    rows = page.locator("#terminal .xterm-rows")
    rows.get_by_text("nb-42", exact=True).wait_for()
    text = rows.inner_text()
    assert "nb-$((6*7))" in text  # the typed line, echoed by the shell
    assert str(live_server.root.resolve() / "project") in text  # started in the folder shown
    screenshot(page, "terminal")
    assert page.js_errors == []

    page.goto(live_server.page_url("tree"))
    page.click(".tab[data-tab='running']")
    entry = page.locator("#running-terminals li", has_text="Terminal 1")
    entry.wait_for()
    screenshot(page, "dashboard-running-terminal")
    entry.get_by_role("button", name="Shut down terminal 1").click()
    page.locator("#running-terminals li.empty").wait_for()
    assert terminal_names(live_server) == []
    assert page.js_errors == []
