"""File services in Chromium: a rendered notebook's scripts cannot reach the API (checklist 32), and the
dashboard's Share dialog and stars (section 3.15), with the copied link opened in a fresh, cookie-less context."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.pages.test_browser import open_dashboard, row
from tests.support.browser import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PROBE = """<pre id="probe">waiting</pre><script>
(async () => {
  const seen = [];
  seen.push("origin=" + window.origin);
  try { seen.push("cookie=" + JSON.stringify(document.cookie)); } catch (error) { seen.push("cookie=" + error.name); }
  try {
    const response = await fetch("/api/contents", {credentials: "include"});
    seen.push("fetch=" + response.status + " " + (await response.text()).slice(0, 80));
  } catch (error) { seen.push("fetch=" + error.name); }
  document.getElementById("probe").textContent = seen.join("\\n");
})();
</script>"""
NOTEBOOK = {"cells": [
    {"cell_type": "markdown", "metadata": {}, "source": ["# Shared notebook"]},
    {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": ["probe()"],
     "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"text/html": PROBE, "text/plain": "probe"}}]},
], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def loopback_only(context: Any) -> None:
    """Abort every request that would leave 127.0.0.1 (nbconvert's page names CDN scripts): no packet leaves."""
    def route(handle: Any) -> None:
        if urlsplit(handle.request.url).hostname == "127.0.0.1":
            handle.continue_()
        else:
            handle.abort()
    context.route("**/*", route)


def api_get(server: LiveServer, path: str) -> Any:
    request = urllib.request.Request(server.page_url(path), headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_a_rendered_notebooks_scripts_cannot_read_the_api(live_server: LiveServer, page: Any) -> None:
    """32"""
    (live_server.root / "probe.ipynb").write_text(json.dumps(NOTEBOOK))
    loopback_only(page.context)
    open_dashboard(page, live_server)  # logged in: the browser holds the session cookie
    assert any(cookie["name"].startswith("nbserver") or cookie["httpOnly"] for cookie in page.context.cookies())
    file_id = api_get(live_server, "api/files/lookup?path=probe.ipynb")["id"]
    page.goto(live_server.page_url(f"api/files/{file_id}/html"), timeout=120_000)  # nbconvert's first import is slow
    page.wait_for_function("!document.getElementById('probe').textContent.includes('waiting')", timeout=30_000)
    probe = page.locator("#probe").inner_text()
    assert "origin=null" in probe, probe  # an opaque origin
    assert "cookie=SecurityError" in probe, probe  # no cookie jar at all
    assert "fetch=TypeError" in probe, probe  # the API was not read
    assert "fetch=200" not in probe


def test_share_toggle_copy_link_and_open_it_without_cookies(live_server: LiveServer, page: Any, browser: Any) -> None:
    """36, 37 through the dashboard: the copied link opens in a fresh context; a new link kills the old one."""
    (live_server.root / "Report.ipynb").write_text(json.dumps(NOTEBOOK))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url.rstrip("/"))
    loopback_only(page.context)
    open_dashboard(page, live_server)
    row(page, "Report.ipynb").locator("input[type=checkbox]").check()
    page.click("#share-button")
    page.check("#share-public")
    page.wait_for_selector("#share-link-row:not([hidden])")
    page.click("#share-copy")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.input_value("#share-link") and "/shared/" in link
    screenshot(page, "share-dialog")

    fresh = browser.new_context()
    try:
        loopback_only(fresh)
        visitor = fresh.new_page()
        response = visitor.goto(link, timeout=120_000)
        assert response.status == 200 and "sandbox" in response.headers["content-security-policy"]
        visitor.wait_for_selector("text=Shared notebook")
        assert fresh.cookies() == []
        page.click("#share-rotate")
        page.wait_for_function(f"document.getElementById('share-link').value !== {json.dumps(link)}")
        new_link = page.input_value("#share-link")
        assert visitor.goto(link).status == 404
        assert visitor.goto(new_link).status == 200
        page.uncheck("#share-public")
        page.wait_for_selector("#share-link-row[hidden]", state="attached")
        assert visitor.goto(new_link).status == 404
        assert fresh.cookies() == []
    finally:
        fresh.close()
    assert page.js_errors == []


def test_star_a_file_and_find_it_under_starred(live_server: LiveServer, page: Any) -> None:
    """35 through the dashboard."""
    (live_server.root / "Fav.txt").write_text("x")
    (live_server.root / "Other.txt").write_text("y")
    open_dashboard(page, live_server)
    row(page, "Fav.txt").locator("button.star").click()
    row(page, "Fav.txt").locator("button.star.on").wait_for()
    assert row(page, "Other.txt").locator("button.star.on").count() == 0
    page.click(".tab[data-tab='starred']")
    page.wait_for_selector("#starred-list li[data-path='Fav.txt']")
    assert page.locator("#starred-list li[data-path]").count() == 1
    page.click("#starred-list li[data-path='Fav.txt'] button")
    page.wait_for_selector("#starred-list li.empty")
    assert api_get(live_server, "api/files?starred=1")["total"] == 0
    assert page.js_errors == []
