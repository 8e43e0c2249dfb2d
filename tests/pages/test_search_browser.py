"""The dashboard's search box in Chromium: a notebook saved through the API is found, its match shown
highlighted as text (never markup), and the result opens the notebook with the matching cell selected."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.pages.test_browser import open_dashboard
from tests.support.browser import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def save_through_api(server: LiveServer, path: str, content: dict[str, Any]) -> None:
    body = json.dumps({"type": "notebook", "content": content}).encode()
    request = urllib.request.Request(server.page_url(f"api/contents/{path}"), data=body, method="PUT",
                                     headers={"Authorization": f"token {server.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # a first save signs: slow under load
        assert response.status in (200, 201)


def cell(cell_type: str, source: str) -> dict[str, Any]:
    made: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source}
    if cell_type == "code":
        made.update({"outputs": [], "execution_count": None})
    return made


def test_search_result_opens_the_notebook_at_the_matching_cell(live_server: LiveServer, page: Any) -> None:
    content = {"cells": [cell("markdown", "# Survey"), cell("code", "x = 1"), cell("code", "y = 2"),
                         cell("markdown", "<img src=x onerror=\"window.hacked=1\"> the quasar spectra")],
               "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    save_through_api(live_server, "obs.ipynb", content)
    open_dashboard(page, live_server)
    result = page.locator(".search-result", has_text="obs.ipynb")
    for _ in range(20):  # the index catches up within 2 s of the save; typing again searches again
        page.fill("#search-input", "quasar")
        page.press("#search-input", "Enter")
        page.wait_for_selector("#search-results .search-list")
        if result.count():
            break
        page.wait_for_timeout(250)
    assert result.locator("mark").all_inner_texts() == ["quasar"]
    snippet = result.locator(".search-snippet")
    assert '<img src=x onerror="window.hacked=1">' in snippet.inner_text()  # shown as text
    assert snippet.locator("img").count() == 0 and page.evaluate("window.hacked") is None
    assert result.locator("a").get_attribute("href").endswith("/notebooks/obs.ipynb#cell=3")
    result.locator("a").click()
    page.wait_for_url("**/notebooks/obs.ipynb#cell=3")
    selected = page.locator(".cell.selected")
    selected.wait_for()
    assert page.locator(".cell").count() == 4
    assert page.evaluate("[...document.querySelectorAll('.cell')].findIndex(c => c.classList.contains('selected'))") == 3
    assert page.js_errors == []
