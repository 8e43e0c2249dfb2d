"""The dashboard's Trash view in Chromium (static/js/trashview.js): listing with size, dates and
expiry, Restore (and "Restore as a copy" on a conflict), Delete forever and Empty trash, each
confirmation saying whether the step can be undone."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
import urllib.request
from typing import Any

import nbformat
import pytest

from tests.pages.test_browser import open_dashboard, row
from tests.support.browser import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def api(server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.page_url(path), data=data, method=method,
                                     headers={"Authorization": f"token {server.token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def trash_row(page: Any, name: str) -> Any:
    return page.locator("#trash-rows tr[data-id]",
                        has=page.locator(".name span", has_text=re.compile(f"^{re.escape(name)}$")))


def dialog_message(page: Any) -> str:
    """The text of the confirmation dialog, once it is open (it may open after a request)."""
    page.locator("#dialog[open]").wait_for()
    return str(page.locator("#dialog-message").inner_text())


def open_trash(page: Any, server: LiveServer) -> None:
    page.goto(server.page_url(f"tree?view=trash&token={server.token}"))
    page.wait_for_selector("#trash-rows tr[data-id], #trash-rows tr.placeholder:not(:has-text('Loading'))")


def test_trashed_notebook_is_restored_from_the_trash_view_and_opens(live_server: LiveServer, page: Any) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Restored heading"), nbformat.v4.new_code_cell("x = 41 + 1")]
    (live_server.root / "proj").mkdir()
    nbformat.write(notebook, str(live_server.root / "proj" / "Keep.ipynb"))
    before = (live_server.root / "proj" / "Keep.ipynb").read_bytes()
    open_dashboard(page, live_server, "proj")
    row(page, "Keep.ipynb").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('Keep.ipynb')")

    page.click(".tab[data-tab='trash']")
    item = trash_row(page, "Keep.ipynb")
    item.wait_for()
    assert "view=trash" in page.url
    assert item.locator(".col-origin").inner_text() == "/proj"
    assert item.locator(".col-size").inner_text().endswith(("B", "KB"))
    assert item.locator(".col-trashed").inner_text() == "just now"
    listed = api(live_server, "GET", "api/trash")["items"][0]
    expires, trashed = (datetime.fromisoformat(listed[key].replace("Z", "+00:00")) for key in ("expires_at", "trashed_at"))
    assert expires - trashed == timedelta(days=30)  # trash_retention_days' default
    day = page.evaluate("iso => new Date(iso).toLocaleDateString(undefined, {dateStyle: 'medium'})", listed["expires_at"])
    assert item.locator(".col-expires").inner_text() == day
    assert "30 days" in page.locator("#trash-summary").inner_text()
    screenshot(page, "trash-view")
    item.locator("[data-trash-action='restore']").click()
    page.locator(".toast", has_text="Restored").wait_for()
    page.wait_for_selector("#trash-rows tr.placeholder:has-text('The trash is empty')")
    assert (live_server.root / "proj" / "Keep.ipynb").read_bytes() == before

    page.click(".tab[data-tab='files']")
    row(page, "Keep.ipynb").locator(".name").click()
    page.wait_for_url("**/notebooks/proj/Keep.ipynb*")
    page.locator(".cell .markdown-rendered h1", has_text="Restored heading").wait_for()
    assert page.locator(".cell").count() == 2
    page.locator(".cell .source", has_text="x = 41 + 1").wait_for()  # the code cell's editor (CodeMirror)
    assert page.js_errors == []


def test_restore_onto_a_taken_name_offers_a_copy(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "a.txt").write_text("old")
    old = api(live_server, "POST", "api/trash", {"path": "a.txt"})
    (live_server.root / "a.txt").write_text("new")
    open_trash(page, live_server)
    trash_row(page, "a.txt").locator("[data-trash-action='restore']").click()
    assert "/a.txt" in dialog_message(page)
    assert page.locator("#dialog-ok").inner_text() == "Restore as a copy"
    page.click("#dialog-ok")
    page.locator(".toast", has_text="a (restored).txt").wait_for()
    assert (live_server.root / "a.txt").read_text() == "new"
    assert (live_server.root / "a (restored).txt").read_text() == "old"
    assert api(live_server, "GET", f"api/files/{old['id']}")["path"] == "a (restored).txt"
    assert page.js_errors == []


def test_delete_forever_and_empty_trash_say_they_are_permanent(live_server: LiveServer, page: Any) -> None:
    for name in ("one.txt", "two.txt", "three.txt"):
        (live_server.root / name).write_text(name)
        api(live_server, "POST", "api/trash", {"path": name})
    trash_folder = live_server.root / ".nbserver" / "trash"
    open_trash(page, live_server)
    assert page.locator("#trash-rows tr[data-id]").count() == 3
    assert page.locator("#trash-summary").inner_text().startswith("3 items")

    trash_row(page, "two.txt").locator("[data-trash-action='delete']").click()
    message = dialog_message(page)
    assert "permanently" in message and "cannot be restored" in message
    page.click("#dialog-cancel")  # cancelled: nothing happens
    assert len(list(trash_folder.glob("*/two.txt"))) == 1
    trash_row(page, "two.txt").locator("[data-trash-action='delete']").click()
    page.click("#dialog-ok")
    page.wait_for_function("document.querySelectorAll('#trash-rows tr[data-id]').length === 2")
    assert list(trash_folder.glob("*/two.txt")) == []

    page.click("#empty-trash")
    message = dialog_message(page)
    assert "all 2 items" in message and "permanently" in message and "cannot be restored" in message
    assert page.locator("#dialog-ok").inner_text() == "Empty trash"
    page.click("#dialog-ok")
    page.wait_for_selector("#trash-rows tr.placeholder:has-text('The trash is empty')")
    assert list(trash_folder.iterdir()) == []
    assert api(live_server, "GET", "api/trash")["total"] == 0
    assert page.locator("#empty-trash").is_disabled()
    assert page.js_errors == []


def test_trash_view_pages_with_show_more(live_server: LiveServer, page: Any) -> None:
    for index in range(55):  # one page is 50 items
        (live_server.root / f"f{index:02}.txt").write_text("x")
        api(live_server, "POST", "api/trash", {"path": f"f{index:02}.txt"})
    open_trash(page, live_server)
    assert page.locator("#trash-rows tr[data-id]").count() == 50
    page.click("#trash-more")
    page.wait_for_function("document.querySelectorAll('#trash-rows tr[data-id]').length === 55")
    assert page.locator("#trash-more").is_hidden()
    names = page.locator("#trash-rows .name span").all_inner_texts()
    assert sorted(names) == [f"f{index:02}.txt" for index in range(55)]
    assert page.js_errors == []
