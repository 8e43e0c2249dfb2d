"""The checkpoint history dialog in headless Chromium: File > Checkpoint history… lists every
checkpoint newest first, shows the selected one's diff against the notebook, restores and deletes."""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest

from tests.pages.test_trash_view import api as api_request
from tests.support.browser import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def save_version(server: LiveServer, source: str) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    api_request(server, "PUT", "api/contents/History.ipynb", {"type": "notebook", "content": notebook})
    api_request(server, "POST", "api/contents/History.ipynb/checkpoints")


def test_history_dialog_shows_diffs_restores_and_deletes(live_server: LiveServer, page: Any) -> None:
    for number in range(3):
        save_version(live_server, f"version = {number}")
    save_version(live_server, "version = 'now'")  # the notebook now, also the latest checkpoint
    page.goto(live_server.page_url(f"notebooks/History.ipynb?token={live_server.token}"))
    page.locator(".cell .source .cm-content").first.wait_for()

    page.click("#file-menu-button")
    page.click("[data-command='checkpoint-history']")
    items = page.locator("#history-list .history-item")
    items.nth(3).wait_for()
    assert items.count() == 4 and "latest" in items.first.inner_text()
    page.wait_for_selector("#history-diff .history-same")  # the latest is the notebook as it is

    items.nth(2).click()  # newest first: now, 2, 1, 0; the third newest holds "version = 1"
    page.wait_for_selector("#history-diff .history-cell.modified")
    diff_text = page.locator("#history-diff").inner_text()
    assert "-version = 1" in diff_text and "+version = 'now'" in diff_text
    screenshot(page, "checkpoint-history")

    page.click("#history-restore")
    page.wait_for_selector(".toast:has-text('Restored')")
    assert page.locator("#history-dialog").count() == 0
    assert page.locator(".cell .source .cm-content").first.inner_text() == "version = 1"
    on_disk = json.loads((live_server.root / "History.ipynb").read_text())
    assert "".join(on_disk["cells"][0]["source"]) == "version = 1"

    page.click("#file-menu-button")
    page.click("[data-command='checkpoint-history']")
    items.nth(3).wait_for()
    items.nth(3).click()
    page.wait_for_selector("#history-diff .history-cell")
    page.click("#history-delete")
    page.wait_for_selector(".toast:has-text('Checkpoint deleted')")
    page.wait_for_function("document.querySelectorAll('#history-list .history-item').length === 3")
    assert len(api_request(live_server, "GET", "api/contents/History.ipynb/checkpoints")) == 3
    page.click("#history-close")
    assert page.locator("#history-dialog").count() == 0
    assert page.js_errors == []
